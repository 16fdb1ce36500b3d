"""A live session put together: its configuration (parsed before anything opens), the run and its guard, the MIDI
clock ports, the demo. Imports control/, engine/ and ports/."""
