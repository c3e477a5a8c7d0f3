/**
 * A wait cut off by the engine (dockerd killed while the driver waits: the 200 headers came, the body
 * never does) ends, is retried with the driver's backoff, and reconciles with inspect. The fake
 * engine cuts the pending waits (`dropWaits`); the real-engine version of this, with dockerd killed
 * and restarted, is test/docker/engine-faults.real.test.ts.
 */
import Docker from 'dockerode';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createDockerDriver, type DockerDriver } from '../../src/drivers/docker/index.js';
import { type FakeDockerEngine, startFakeDockerEngine } from '../support/fake-docker-engine.js';
import { captureLogs, cpuHalfTask, until } from './engine.js';

let fake: FakeDockerEngine;
let driver: DockerDriver;
let logs: ReturnType<typeof captureLogs>;
let taskId: string;
let containerId: string;

beforeEach(async () => {
  fake = await startFakeDockerEngine({ speedup: 50 });
  logs = captureLogs();
  driver = createDockerDriver({
    socketPath: fake.socketPath,
    logger: logs.logger,
    engineBackoff: { baseMs: 100, capMs: 400 },
  });
  const task = cpuHalfTask();
  taskId = task.id;
  containerId = (await driver.startTask(task)).driverId!;
});

afterEach(async () => {
  await driver.destroyTask(taskId, { force: true }).catch(() => {});
  await fake.close();
});

it('a wait cut off mid-response is retried; a later exit is reported with its code', async () => {
  const exit = driver.waitTask(taskId);
  let settled = false;
  void exit.then(() => (settled = true));
  // dropWaits is 0 until the driver's wait has reached the engine.
  await until(() => fake.dropWaits() === 1);
  // The driver waits again after one backoff step (100 ms), not hanging on the dead response.
  await new Promise((resolve) => setTimeout(resolve, 250));
  expect(settled).toBe(false);
  await new Docker({ socketPath: fake.socketPath }).getContainer(containerId).kill();
  expect(await exit).toMatchObject({ exitCode: 137, oomKilled: false });
  const lines = logs.lines.map((line) => line.msg);
  expect(lines).toContain('docker wait failed, retrying with backoff');
  expect(lines).toContain(
    'docker wait: the engine answers again and the container still runs; waiting again',
  );
  expect(logs.errors()).toEqual([]);
});

it('an exit that happened while the wait was cut off is found by inspect', async () => {
  const exit = driver.waitTask(taskId);
  await until(() => fake.dropWaits() === 1);
  // The container dies before the driver's retry (100 ms away): the retry's inspect sees it exited.
  await new Docker({ socketPath: fake.socketPath }).getContainer(containerId).kill();
  expect(await exit).toMatchObject({ exitCode: 137 });
  expect(logs.lines.map((line) => line.msg)).toContain(
    'docker wait: the container exited while the engine was away',
  );
});
