"""``python -m bench``: the bot as a real process against the sandbox fakes, measured against a bare aiohttp
ceiling on the same machine. Prints a table and writes ``bench/results.json``; never asserts on timings."""
