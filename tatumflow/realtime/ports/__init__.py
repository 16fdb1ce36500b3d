"""MIDI in and out: ports (mido + rtmidi, JACK inside: the dump reader, the server watch), the sinks and the one
`Outputs` that owns them, the panic, the recorder's file, the built-in synth, the dead man's switch and the
environment switches. Imports nothing else of realtime/."""
