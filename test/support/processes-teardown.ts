/** Global teardown of the `processes` project: nothing the CLI tests' agents made stays on the host. */
import { removeTestCgroups } from './cli-cgroups.ts';

export function teardown(): void {
  removeTestCgroups();
}
