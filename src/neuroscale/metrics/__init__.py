"""Observed behaviour of the embedded platform: metric names, a bounded SQLite time series, the scraper.

`names` is the one definition of what the gateway exports and the scraper
reads; `store` keeps per-endpoint samples in three resolutions with
retention; `scrape` fills it from the gateway's `/metrics` and the model
servers' process accounting; `series` turns rows into chart series.
"""
