"""The fault suite: accord's own servers and workers as processes that the tests kill and restart."""
