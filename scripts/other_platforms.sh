#!/usr/bin/env bash
# setup.sh on a machine without apt-get: say exactly which system packages TatumFlow needs there (FluidSynth,
# PortAudio, a General MIDI soundfont; JACK optional), and return 0 so that setup.sh carries on with the virtual
# environment. Tested: Debian/Ubuntu on x86-64 (setup.sh's apt-get path). The lines below are what these platforms'
# package managers call the packages; they are not tested here.
set -euo pipefail

SOUNDFONT_HINT="or put any General MIDI .sf2 in ~/.local/share/soundfonts (or set TATUMFLOW_SOUNDFONT=/path/to.sf2)"
echo "No apt-get here: setup.sh installs system packages on Debian/Ubuntu only (the platform tested)."
echo "Install these yourself; setup.sh carries on with the Python environment meanwhile:"
case "$(uname -s)" in
  Darwin)
    echo "  macOS (Homebrew): brew install fluid-synth portaudio"
    echo "  a General MIDI soundfont: e.g. GeneralUser GS or FluidR3_GM.sf2 into ~/.local/share/soundfonts"
    echo "    (or /opt/homebrew/share/soundfonts, or set TATUMFLOW_SOUNDFONT=/path/to.sf2)"
    echo "  JACK is optional on macOS: CoreMIDI gives TatumFlow its virtual ports (brew install jack only to use JACK)"
    echo "  if Python then cannot find the FluidSynth library: export DYLD_LIBRARY_PATH=\$(brew --prefix)/lib"
    ;;
  Linux)
    if command -v dnf >/dev/null 2>&1; then
      echo "  Fedora (dnf): sudo dnf install fluidsynth fluidsynth-libs portaudio fluid-soundfont-gm"
      echo "  JACK (optional; the ALSA sequencer gives virtual ports): sudo dnf install pipewire-jack-audio-connection-kit"
    elif command -v pacman >/dev/null 2>&1; then
      echo "  Arch (pacman): sudo pacman -S fluidsynth portaudio soundfont-fluid"
      echo "  JACK (optional; the ALSA sequencer gives virtual ports): sudo pacman -S jack2 (or pipewire-jack)"
    else
      echo "  your distribution's FluidSynth (libfluidsynth), PortAudio and a General MIDI soundfont,"
      echo "  $SOUNDFONT_HINT; JACK (jackd2) is optional"
    fi
    ;;
  *)
    echo "  FluidSynth, PortAudio and a General MIDI soundfont ($SOUNDFONT_HINT); JACK is optional"
    ;;
esac
exit 0
