"""What a musician turns: the knob table, the control surface, the CC map and MIDI learn, the input router, OSC and
the terminal UI. Imports engine/ and ports/."""
