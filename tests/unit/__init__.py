"""Pure logic: no servers, no `gymfloor` processes, no browser. `make test-fast` runs these."""
