import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { VipError } from './exec.js';

/**
 * The helper: one AF_PACKET socket on the interface, opened once. Each `garp A.B.C.D` line sends one
 * gratuitous ARP request (SPA = TPA = VIP, THA = broadcast, as keepalived sends) and one reply
 * (SHA = THA = own MAC), both to the Ethernet broadcast address, and answers `sent 2` or `error …`.
 * Each `probe A.B.C.D MS` line sends one ARP probe (sender IP 0.0.0.0, as RFC 5227 and `arping -D`:
 * no neighbour learns from it) and answers `taken <mac>` when another MAC replies for the address
 * within MS milliseconds, else `free`. Each `add A.B.C.D PREFIX [LABEL]` / `del A.B.C.D PREFIX` line adds
 * or removes the address on the interface over rtnetlink (what `ip addr add/del` sends, without
 * starting a process on the failover's path) and answers `errno N` (0 = done).
 */
const HELPER = String.raw`
import socket, struct, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind((sys.argv[1], 0x0806))
mac = s.getsockname()[4]
print('ready ' + mac.hex(':'), flush=True)
B = b'\xff' * 6
Z = b'\x00'
head = B + mac + b'\x08\x06' + struct.pack('!HHBB', 1, 0x0800, 6, 4)
def drain():
    s.setblocking(False)
    try:
        while True:
            s.recv(2048)
    except BlockingIOError:
        pass
    s.setblocking(True)
def probe(ip, wait):
    drain()
    s.send((head + struct.pack('!H', 1) + mac + Z * 4 + Z * 6 + ip).ljust(60, Z))
    end = time.monotonic() + wait
    try:
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return 'free'
            s.settimeout(left)
            try:
                f = s.recv(2048)
            except socket.timeout:
                return 'free'
            if len(f) >= 42 and f[12:14] == b'\x08\x06' and f[20:22] == b'\x00\x02' and f[28:32] == ip and f[22:28] != mac:
                return 'taken ' + f[22:28].hex(':')
    finally:
        s.settimeout(None)
nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
nl.bind((0, 0))
index = socket.if_nametoindex(sys.argv[1])
seq = [0]
def rta(kind, data):
    n = 4 + len(data)
    return struct.pack('=HH', n, kind) + data + Z * ((4 - n % 4) % 4)
def address(op, ip, plen, label):
    seq[0] += 1
    flags = 0x5 | (0x600 if op == 20 else 0)
    body = struct.pack('=BBBBI', socket.AF_INET, plen, 0, 0, index) + rta(2, ip) + rta(1, ip)
    if label:
        body += rta(3, label.encode() + Z)
    nl.send(struct.pack('=IHHII', 16 + len(body), op, flags, seq[0], 0) + body)
    while True:
        data = nl.recv(65536)
        at = 0
        while at + 16 <= len(data):
            n, kind, _, s, _ = struct.unpack_from('=IHHII', data, at)
            if kind == 2 and s == seq[0]:
                return -struct.unpack_from('=i', data, at + 16)[0]
            if n < 16:
                break
            at += (n + 3) & ~3
for line in sys.stdin:
    p = line.split()
    try:
        ip = socket.inet_aton(p[1])
        if p[0] == 'probe':
            print(probe(ip, int(p[2]) / 1000.0), flush=True)
            continue
        if p[0] in ('add', 'del'):
            label = p[3] if len(p) > 3 else ''
            print('errno %d' % address(20 if p[0] == 'add' else 21, ip, int(p[2]), label), flush=True)
            continue
        s.send((head + struct.pack('!H', 1) + mac + ip + B + ip).ljust(60, Z))
        s.send((head + struct.pack('!H', 2) + mac + ip + mac + ip).ljust(60, Z))
        print('sent 2', flush=True)
    except Exception as e:
        print('error %s' % e, flush=True)
`;

/**
 * Gratuitous ARP without a process per burst: arping needs 30–80 ms to start before its first frame,
 * which is most of a failover. This keeps one small Python helper (Python is on every Patroni host)
 * with a raw socket open, so a frame leaves within a millisecond of the take. Needs CAP_NET_RAW, like
 * arping. `start()` fails with the reason when python3 is missing or the socket is refused; the caller
 * then uses arping.
 */
export class RawArpSender {
  private child: ChildProcessWithoutNullStreams | null = null;
  private readonly waiting: Array<(line: string) => void> = [];
  private starting: Promise<void> | null = null;
  /** The interface MAC the helper's socket reports. */
  mac: string | null = null;

  constructor(
    private readonly iface: string,
    private readonly python: string,
    private readonly startTimeoutMs: number,
  ) {}

  /** Starts the helper once; later calls return the same promise until it exits. */
  start(): Promise<void> {
    this.starting ??= this.spawnHelper().catch((err: unknown) => {
      this.starting = null;
      throw err;
    });
    return this.starting;
  }

  private async spawnHelper(): Promise<void> {
    const child = spawn(this.python, ['-c', HELPER, this.iface], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    // a helper that died makes the next write fail with EPIPE: that must be an answer, not a crash
    child.stdin.on('error', () => undefined);
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr = `${stderr}${b.toString()}`.slice(-500)));
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => this.waiting.shift()?.(line));
    const exited = new Promise<string>((resolve) => {
      child.once('error', (err) => resolve(err.message));
      child.once('exit', (code, signal) => resolve(`exited ${signal ?? code}`));
    });
    void exited.then((why) => {
      if (this.child === child) {
        this.child = null;
        this.starting = null;
      }
      for (const resolve of this.waiting.splice(0)) resolve(`error helper ${why}`);
    });
    const ready = new Promise<string>((resolve) => this.waiting.push(resolve));
    const timeout = new Promise<string>((resolve) =>
      setTimeout(() => resolve('timeout'), this.startTimeoutMs).unref(),
    );
    const first = await Promise.race([ready, exited.then((why) => `exit ${why}`), timeout]);
    if (!first.startsWith('ready ')) {
      child.kill('SIGKILL');
      const cause = stderr.trim().split('\n').at(-1) ?? '';
      throw new VipError(
        'announce',
        `cannot start the ARP helper (${this.python}) on ${this.iface}: ${first === 'timeout' ? `no answer in ${this.startTimeoutMs} ms` : first}${cause ? ` (${cause})` : ''}`,
      );
    }
    this.mac = first.slice('ready '.length);
  }

  /** Sends one gratuitous ARP request and one reply for `address`; resolves with the frames sent. */
  async send(address: string): Promise<number> {
    await this.start();
    const child = this.child;
    if (!child) throw new VipError('announce', `the ARP helper on ${this.iface} is not running`);
    const line = await this.ask(child, `garp ${address}`, this.startTimeoutMs);
    if (!line.startsWith('sent '))
      throw new VipError('announce', `the ARP helper on ${this.iface} could not send: ${line}`);
    return Number(line.slice('sent '.length));
  }

  /**
   * One ARP probe for `address`: is another host answering for it within `windowMs`? Replies from this
   * interface's own MAC are not counted.
   */
  async probe(address: string, windowMs: number): Promise<{ isInUse: boolean; otherMac: string | null }> {
    await this.start();
    const child = this.child;
    if (!child) throw new VipError('announce', `the ARP helper on ${this.iface} is not running`);
    const wait = Math.max(1, Math.round(windowMs));
    const line = await this.ask(child, `probe ${address} ${wait}`, wait + this.startTimeoutMs);
    if (line === 'free') return { isInUse: false, otherMac: null };
    if (line.startsWith('taken ')) return { isInUse: true, otherMac: line.slice('taken '.length) };
    throw new VipError('probe', `the ARP helper on ${this.iface} could not probe ${address}: ${line}`);
  }

  /**
   * `ip addr add|del A.B.C.D/PREFIX dev IFACE [label L]` over the helper's rtnetlink socket. Resolves with
   * the kernel's errno (0 = done, EEXIST = already there, EADDRNOTAVAIL = not there).
   */
  async address(op: 'add' | 'del', address: string, prefixLength: number, label?: string): Promise<number> {
    await this.start();
    const child = this.child;
    if (!child) throw new VipError('exec', `the ARP helper on ${this.iface} is not running`);
    const command = `${op} ${address} ${prefixLength}${label ? ` ${label}` : ''}`;
    const line = await this.ask(child, command, this.startTimeoutMs);
    if (!line.startsWith('errno '))
      throw new VipError(
        op === 'add' ? 'add' : 'remove',
        `the ARP helper on ${this.iface} could not ${op} ${address}: ${line}`,
      );
    return Number(line.slice('errno '.length));
  }

  /**
   * One line to the helper, its one-line answer. A helper that does not answer within `timeoutMs` is
   * killed (answers are matched by order, so a late one would answer the next question): the answer is
   * then `error …` and the next call starts a new helper.
   */
  private async ask(child: ChildProcessWithoutNullStreams, line: string, timeoutMs: number): Promise<string> {
    const answer = new Promise<string>((resolve) => this.waiting.push(resolve));
    child.stdin.write(`${line}\n`);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<string>((resolve) => {
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(`error no answer in ${timeoutMs} ms`);
      }, timeoutMs);
      timer.unref();
    });
    try {
      return await Promise.race([answer, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.child?.kill('SIGKILL');
    this.child = null;
    this.starting = null;
  }
}
