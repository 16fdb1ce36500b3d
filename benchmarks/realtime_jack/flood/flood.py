"""Where do notes go at 40,000 messages/s? A virtual 'Flood Out' port feeds both `tatumflow jam --in 'Flood Out'`
and a bare rtmidi listener; compare what the sender sent, what the listener got and what the engine counted."""
import json, os, subprocess, sys, threading, time
from pathlib import Path
import mido
from tatumflow.realtime import jack

rate = float(sys.argv[1]) if len(sys.argv) > 1 else 40000
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
out_dir = Path(sys.argv[3] if len(sys.argv) > 3 else '/tmp/flood'); out_dir.mkdir(exist_ok=True, parents=True)
with jack.jack_dummy_server(out_dir / 'jackd.log', prefix='tf-flood') as name:
    b = mido.Backend('mido.backends.rtmidi/UNIX_JACK', load=True)
    sender = b.open_output('Flood Out', virtual=True, client_name='flood')
    got = []
    lock = threading.Lock()
    def on(msg):
        with lock: got.append(msg)
    sys.setswitchinterval(0.0005)
    listener = b.open_input(jack.wait_for_port('input', 'Flood Out'), callback=on)
    proc = subprocess.Popen([sys.executable, '/tmp/plainrecv.py', str(out_dir / 'r.json')], stdout=subprocess.PIPE, stderr=subprocess.STDOUT) if os.environ.get('PLAIN') else subprocess.Popen([sys.executable, '-m', 'tatumflow.cli', 'jam', '--mock', '--api', 'jack', '--in', 'Flood Out',
                             '--mode', 'duet', '--no-tui', '--report', str(out_dir / 'r.json'), '--record', str(out_dir / 's.mid')],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    drained = []
    threading.Thread(target=lambda: drained.extend(proc.stdout), daemon=True).start()  # a terminal reads as it comes
    try:
        jack.wait_for_port('input', 'TatumFlow Out', timeout_s=15)
    except TimeoutError:
        proc.kill(); print(proc.communicate()[0].decode()[-3000:]); raise
    time.sleep(1.0)
    n = int(rate * seconds / 2)
    t0 = time.monotonic()
    for i in range(n):
        t = t0 + 2 * i / rate
        while time.monotonic() < t:
            time.sleep(0.00002)
        p = 21 + (i * 7) % 88
        sender.send(mido.Message('note_on', note=p, velocity=1 + i % 127))
        sender.send(mido.Message('note_off', note=p))
    took = time.monotonic() - t0
    time.sleep(1.5)
    proc.send_signal(2)
    proc.wait(timeout=30); time.sleep(0.2); out = b''.join(drained)
    listener.close()
    r = json.loads((out_dir / 'r.json').read_text())
    ons = sum(1 for m in got if m.type == 'note_on' and m.velocity)
    from collections import Counter; print(Counter(m.type for m in got), len(got))
    print(json.dumps({'rate': rate, 'sent_note_ons': n, 'send_s': round(took, 3), 'listener_note_ons': ons,
                      'engine_human_notes': r.get('human_notes'), 'input_messages': r.get('input_messages')}))
    tail = out.decode(errors='replace').splitlines()
    print('\n'.join(l for l in tail if 'Server is not' not in l)[-3000:])
