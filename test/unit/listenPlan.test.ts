import type { NetworkInterfaceInfo } from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import {
  advertisedAddresses,
  listenInfosFor,
  planListenAddresses,
  usableLocalAddresses,
} from '../../workers/ListenPlan.ts';
import { decodeBindingResponse, encodeBindingRequest, parseStunUrl } from '../../workers/stunClient.ts';

const iface = (address: string, family: 'IPv4' | 'IPv6', internal = false): NetworkInterfaceInfo =>
  ({
    address,
    family,
    internal,
    netmask: family === 'IPv4' ? '255.255.255.0' : 'ffff:ffff:ffff:ffff::',
    mac: '00:00:00:00:00:00',
    cidr: null,
    ...(family === 'IPv6' ? { scopeid: 0 } : {}),
  }) as NetworkInterfaceInfo;

/** A LAN host: loopback, one IPv4 and a global plus a link-local IPv6 on eth0, a docker bridge. */
const host = {
  lo: [iface('127.0.0.1', 'IPv4', true), iface('::1', 'IPv6', true)],
  eth0: [iface('192.168.1.20', 'IPv4'), iface('2001:db8::20', 'IPv6'), iface('fe80::1', 'IPv6')],
  docker0: [iface('172.17.0.1', 'IPv4')],
};
const loopbackOnly = { lo: [iface('127.0.0.1', 'IPv4', true)] };

describe('listen addresses', () => {
  it('expands a wildcard to every usable local IPv4 address, loopback last, no link-local', () => {
    expect(usableLocalAddresses(host, false)).toEqual(['192.168.1.20', '172.17.0.1', '127.0.0.1']);
    expect(usableLocalAddresses(host, true)).toEqual([
      '192.168.1.20',
      '2001:db8::20',
      '172.17.0.1',
      '127.0.0.1',
      '::1',
    ]);
    const plan = planListenAddresses({ listenIp: '0.0.0.0', announced: [], ipv6: false, interfaces: host });
    expect(plan.source).toBe('local-addresses');
    expect(plan.addresses).toEqual([{ ip: '192.168.1.20' }, { ip: '172.17.0.1' }, { ip: '127.0.0.1' }]);
    expect(plan.warnings).toEqual([]);
  });

  it('gives one listenInfo per address, UDP and TCP, on the same port; never 0.0.0.0 as a candidate', () => {
    const plan = planListenAddresses({ listenIp: '0.0.0.0', announced: [], ipv6: false, interfaces: host });
    expect(listenInfosFor(plan, { port: 40000 })).toEqual([
      { protocol: 'udp', ip: '192.168.1.20', port: 40000 },
      { protocol: 'tcp', ip: '192.168.1.20', port: 40000 },
      { protocol: 'udp', ip: '172.17.0.1', port: 40000 },
      { protocol: 'tcp', ip: '172.17.0.1', port: 40000 },
      { protocol: 'udp', ip: '127.0.0.1', port: 40000 },
      { protocol: 'tcp', ip: '127.0.0.1', port: 40000 },
    ]);
    expect(advertisedAddresses(plan).map((a) => a.address)).not.toContain('0.0.0.0');
  });

  it('warns when only loopback is left: Firefox and other hosts cannot use it', () => {
    const wildcard = planListenAddresses({
      listenIp: '0.0.0.0',
      announced: [],
      ipv6: false,
      interfaces: loopbackOnly,
    });
    expect(wildcard.addresses).toEqual([{ ip: '127.0.0.1' }]);
    expect(wildcard.warnings[0]).toMatch(/no address but loopback/);
    const explicit = planListenAddresses({
      listenIp: '127.0.0.1',
      announced: [],
      ipv6: false,
      interfaces: host,
    });
    expect(explicit.addresses).toEqual([{ ip: '127.0.0.1' }]);
    expect(explicit.warnings[0]).toMatch(/only/);
  });

  it('announces a comma-separated ANNOUNCED_IP on the listen address: UDP shares the port, TCP takes the first', () => {
    const plan = planListenAddresses({
      listenIp: '0.0.0.0',
      announced: ['203.0.113.7', '192.168.1.20'],
      ipv6: false,
      interfaces: host,
    });
    expect(plan.source).toBe('announced');
    expect(listenInfosFor(plan, { port: 40001 })).toEqual([
      {
        protocol: 'udp',
        ip: '0.0.0.0',
        port: 40001,
        announcedAddress: '203.0.113.7',
        flags: { udpReusePort: true },
      },
      { protocol: 'tcp', ip: '0.0.0.0', port: 40001, announcedAddress: '203.0.113.7' },
      {
        protocol: 'udp',
        ip: '0.0.0.0',
        port: 40001,
        announcedAddress: '192.168.1.20',
        flags: { udpReusePort: true },
      },
    ]);
    // One address: no shared port, no flag.
    const one = planListenAddresses({
      listenIp: '0.0.0.0',
      announced: ['203.0.113.7'],
      ipv6: false,
      interfaces: host,
    });
    expect(listenInfosFor(one, { port: 40000 })[0]).toEqual({
      protocol: 'udp',
      ip: '0.0.0.0',
      port: 40000,
      announcedAddress: '203.0.113.7',
    });
    // Port-range mode: each listenInfo takes its own port, nothing is shared.
    expect(listenInfosFor(plan, { portRange: { min: 50000, max: 50100 } })[0]).toEqual({
      protocol: 'udp',
      ip: '0.0.0.0',
      portRange: { min: 50000, max: 50100 },
      announcedAddress: '203.0.113.7',
    });
  });

  it('puts the STUN-mapped public address on the interface the query left from, keeping the local one', () => {
    const plan = planListenAddresses({
      listenIp: '0.0.0.0',
      announced: [],
      ipv6: false,
      interfaces: host,
      stunMapping: { local: '192.168.1.20', public: '198.51.100.9' },
    });
    expect(plan.source).toBe('stun');
    expect(plan.addresses[0]).toEqual({
      ip: '192.168.1.20',
      announcedAddress: '198.51.100.9',
      exposeInternalIp: true,
    });
    expect(
      advertisedAddresses(plan)
        .filter((a) => a.protocol === 'udp')
        .map((a) => a.address),
    ).toEqual(['198.51.100.9', '192.168.1.20', '172.17.0.1', '127.0.0.1']);
    // A host with a public address of its own: nothing to announce.
    const direct = planListenAddresses({
      listenIp: '0.0.0.0',
      announced: [],
      ipv6: false,
      interfaces: host,
      stunMapping: { local: '192.168.1.20', public: '192.168.1.20' },
    });
    expect(direct.addresses.every((a) => a.announcedAddress === undefined)).toBe(true);
    expect(
      planListenAddresses({
        listenIp: '0.0.0.0',
        announced: [],
        ipv6: false,
        interfaces: host,
        stunFailed: true,
      }).source,
    ).toBe('stun-fallback');
  });
});

describe('listen configuration', () => {
  it('listens everywhere by default, on loopback when HOST is loopback, as told otherwise', () => {
    expect(loadConfig({}).sfu).toMatchObject({
      listenIp: '0.0.0.0',
      announced: { kind: 'none' },
      ipv6: false,
    });
    expect(loadConfig({ HOST: '127.0.0.1' }).sfu.listenIp).toBe('127.0.0.1');
    expect(loadConfig({ HOST: 'localhost' }).sfu.listenIp).toBe('127.0.0.1');
    expect(loadConfig({ HOST: '::1' }).sfu.listenIp).toBe('::1');
    expect(loadConfig({ HOST: '127.0.0.1', RTC_LISTEN_IP: '0.0.0.0' }).sfu.listenIp).toBe('0.0.0.0');
    expect(() => loadConfig({ RTC_LISTEN_IP: 'everywhere' })).toThrow(/RTC_LISTEN_IP/);
  });

  it('parses ANNOUNCED_IP as a list or auto', () => {
    expect(loadConfig({ ANNOUNCED_IP: ' 203.0.113.7, media.example.com ' }).sfu.announced).toEqual({
      kind: 'list',
      addresses: ['203.0.113.7', 'media.example.com'],
    });
    expect(
      loadConfig({ ANNOUNCED_IP: 'auto', STUN_URLS: 'turn:x, stun:stun.example.org:3478' }).sfu.announced,
    ).toEqual({
      kind: 'auto',
      stunUrl: 'stun:stun.example.org:3478',
      timeoutMs: 2000,
    });
    expect(() => loadConfig({ ANNOUNCED_IP: 'auto,1.2.3.4' })).toThrow(/ANNOUNCED_IP/);
    expect(() => loadConfig({ ANNOUNCED_IP: 'a b' })).toThrow(/ANNOUNCED_IP/);
  });
});

describe('STUN messages', () => {
  it('parses stun: URLs', () => {
    expect(parseStunUrl('stun:stun.l.google.com:19302')).toEqual({ host: 'stun.l.google.com', port: 19302 });
    expect(parseStunUrl('stun:127.0.0.1')).toEqual({ host: '127.0.0.1', port: 3478 });
    expect(parseStunUrl('stun:[::1]:3479')).toEqual({ host: '::1', port: 3479 });
    expect(() => parseStunUrl('turn:x')).toThrow();
  });

  it('encodes a Binding request and decodes XOR-MAPPED-ADDRESS for its transaction only', () => {
    const tid = Buffer.from('0123456789ab');
    const request = encodeBindingRequest(tid);
    expect(request.readUInt16BE(0)).toBe(0x0001);
    expect(request.readUInt32BE(4)).toBe(0x2112a442);
    // A success response carrying XOR-MAPPED-ADDRESS 198.51.100.9:5000.
    const response = Buffer.alloc(32);
    response.writeUInt16BE(0x0101, 0);
    response.writeUInt16BE(12, 2);
    response.writeUInt32BE(0x2112a442, 4);
    tid.copy(response, 8);
    response.writeUInt16BE(0x0020, 20);
    response.writeUInt16BE(8, 22);
    response[25] = 0x01;
    response.writeUInt16BE(5000 ^ 0x2112, 26);
    const ip = Buffer.from([198, 51, 100, 9]);
    for (let i = 0; i < 4; i++) response[28 + i] = (ip[i] ?? 0) ^ (response[4 + i] ?? 0);
    expect(decodeBindingResponse(response, tid)).toBe('198.51.100.9');
    expect(decodeBindingResponse(response, Buffer.from('another-tid!'))).toBeUndefined();
    expect(decodeBindingResponse(Buffer.alloc(5), tid)).toBeUndefined();
  });
});
