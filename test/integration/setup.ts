// Integration tests start real servers and move real data: give them minutes, not seconds.
jest.setTimeout(300_000);
