"""Library folders in the core: keeping them indexed (service, worker), what a chat may
search (pins), and where a cited passage came from (sources).  Storage's side is
:mod:`storage.library`."""
