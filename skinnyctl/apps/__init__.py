"""Applications: ends of calls whose far end is our own code (voicemail, ...)."""
