"""The live engine: the worker and its factory, the modes, the context (the generator's state), the planner (the
latency budget), the outbox and scheduler, the session's time (tempo, form), its settings and report. Imports
ports/ and nothing else of realtime/."""
