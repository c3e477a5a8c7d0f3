/** Parsers of /proc and cgroup text, and layout detection from mountinfo (no processes needed). */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cgroupName, detectCgroupLayout, parseCgroupMounts } from '../../src/drivers/exec/cgroups.js';
import { flatKeyValue, parseFlatKeyed, parseSingleValue } from '../../src/drivers/exec/held-file.js';
import { parseCpuinfoMhz } from '../../src/drivers/exec/host-cpu.js';
import { PidReader, parseStat, readPageSize, statusKb } from '../../src/drivers/exec/proc-reader.js';

const HYBRID_MOUNTINFO = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`;
const V2_MOUNTINFO =
  '29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate';
const COMOUNTED =
  '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory';

describe('/proc parsing', () => {
  it('counts stat fields from the last ")" so odd command names cannot shift them', () => {
    const fields = [
      'S',
      '1',
      '42',
      '42',
      '0',
      '-1',
      '4194304',
      '0',
      '0',
      '0',
      '0',
      '250',
      '30',
      '0',
      '0',
      '20',
      '0',
      '3',
      '0',
      '12345',
      '1000',
      '77',
    ];
    const stat = parseStat(`4242 (we ird) (name) ${fields.join(' ')} 0 0 0\n`);
    expect(stat).toEqual({
      pid: 4242,
      ppid: 1,
      pgrp: 42,
      utime: 250,
      stime: 30,
      cutime: 0,
      cstime: 0,
      numThreads: 3,
      starttime: 12345,
      rss: 77,
    });
  });

  it('a held reader takes the same fields from the bytes, in place, and keeps them when a read fails', () => {
    const procRoot = mkdtempSync(join(tmpdir(), 'taskpulse-proc-fixture-'));
    try {
      mkdirSync(join(procRoot, '4242'));
      const statOf = (utime: number) =>
        `4242 (we ird) (name) S 7 42 42 0 -1 4194304 0 0 0 0 ${utime} 30 5 6 20 -2 3 0 12345 1000 77 0\n`;
      writeFileSync(join(procRoot, '4242', 'stat'), statOf(250));
      writeFileSync(join(procRoot, '4242', 'statm'), '2500 900 100 1 0 300 0\n');
      const reader = PidReader.open(4242, { procRoot, pageSize: 4096 });
      expect(reader?.starttime).toBe(12345);
      const first = reader?.read();
      expect(first).toEqual({
        ppid: 7,
        utime: 250,
        stime: 30,
        cutime: 5,
        cstime: 6,
        numThreads: 3,
        rssBytes: 900 * 4096,
        swapBytes: undefined,
      });
      writeFileSync(join(procRoot, '4242', 'stat'), statOf(1234567));
      expect(reader?.read()).toBe(first); // one object per reader, updated in place
      expect(first?.utime).toBe(1234567);
      writeFileSync(join(procRoot, '4242', 'stat'), '4242 no command name');
      expect(() => reader?.read()).toThrow(/unreadable \/proc stat/);
      expect(first?.utime).toBe(1234567);
      reader?.close();
    } finally {
      rmSync(procRoot, { recursive: true, force: true });
    }
  });

  it('reads kB lines of status as bytes and absent lines as unknown', () => {
    const status = 'Name:\tnode\nVmRSS:\t   2048 kB\nVmSwap:\t      0 kB\n';
    expect(statusKb(status, 'VmRSS')).toBe(2048 * 1024);
    expect(statusKb(status, 'VmSwap')).toBe(0);
    expect(statusKb('Name:\tkthreadd\n', 'VmSwap')).toBeUndefined();
  });

  it('parses this process: a plausible page size and its own stat', () => {
    expect([4096, 16384, 65536]).toContain(readPageSize());
    expect(parseStat(`${process.pid} (node) S 1 2 3`).pid).toBe(process.pid);
  });

  it('sums cpu MHz lines of cpuinfo', () => {
    expect(parseCpuinfoMhz('cpu MHz\t\t: 2400.5\nfoo\ncpu MHz\t\t: 2400.5\n')).toBeCloseTo(4801);
    expect(parseCpuinfoMhz('processor: 0\n')).toBe(0);
  });

  it('parses flat keyed and single-value cgroup files', () => {
    expect(parseFlatKeyed('usage_usec 10\nuser_usec 7\nbad\n')).toEqual(
      new Map([
        ['usage_usec', 10],
        ['user_usec', 7],
      ]),
    );
    // One key of a memory.stat without a map: exact names only (cache, not total_cache).
    const memoryStat = 'cache 4096\nrss 10\nmapped_file 7\ntotal_cache 99\nkernel_stack 5\nkernel 3\n';
    expect(flatKeyValue(memoryStat, 'cache')).toBe(4096);
    expect(flatKeyValue(memoryStat, 'mapped_file')).toBe(7);
    expect(flatKeyValue(memoryStat, 'kernel')).toBe(3);
    expect(flatKeyValue(memoryStat, 'swap')).toBeUndefined();
    expect(flatKeyValue('user 12', 'user')).toBe(12);
    expect(flatKeyValue('user x\n', 'user')).toBeUndefined();
    expect(parseSingleValue('123\n')).toBe(123);
    expect(parseSingleValue('max\n')).toBeUndefined();
  });
});

describe('cgroup layout detection', () => {
  it('picks v1 on a hybrid host (v1 controllers plus an empty v2 mount)', () => {
    expect(detectCgroupLayout({ mountinfo: HYBRID_MOUNTINFO, uid: 0 })).toEqual({
      version: 'v1',
      mounts: {
        cpu: '/sys/fs/cgroup/cpu',
        cpuacct: '/sys/fs/cgroup/cpuacct',
        memory: '/sys/fs/cgroup/memory',
        pids: '/sys/fs/cgroup/pids',
      },
    });
  });

  it('picks v2 on a unified host and handles co-mounted v1 controllers', () => {
    expect(detectCgroupLayout({ mountinfo: V2_MOUNTINFO, uid: 0 })).toEqual({
      version: 'v2',
      mount: '/sys/fs/cgroup',
    });
    expect(parseCgroupMounts(COMOUNTED).v1).toEqual({
      cpu: '/sys/fs/cgroup/cpu,cpuacct',
      cpuacct: '/sys/fs/cgroup/cpu,cpuacct',
      memory: '/sys/fs/cgroup/memory',
    });
  });

  it('says why there are no cgroups', () => {
    expect(detectCgroupLayout({ mountinfo: V2_MOUNTINFO, uid: 1000 })).toEqual({
      version: 'none',
      reason: 'not running as root',
    });
    expect(detectCgroupLayout({ mountinfo: '', uid: 0 }).version).toBe('none');
  });

  it('turns task ids into one safe path segment', () => {
    expect(cgroupName('alloc-1/web server')).toBe('alloc-1_web_server');
    expect(cgroupName('../x')).toBe('__x');
  });
});
