"""asyncio adapters: drive the sans-IO machines over asyncio streams, with TLS and timeouts."""
