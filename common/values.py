"""Values more than one layer needs to agree on."""

EFFORTS = ("low", "medium", "high")  # gpt-oss's reasoning efforts, in order
DEFAULT_EFFORT = "medium"
