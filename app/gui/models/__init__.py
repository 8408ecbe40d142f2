"""The model screens: first-run welcome, model manager, and the downloads behind them."""
