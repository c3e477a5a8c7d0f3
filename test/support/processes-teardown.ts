/** Global teardown of the `processes` project: nothing the CLI tests' agents made stays on the host. */
import { removeTestCgroups } from './cli-cgroups.js';

export function teardown(): void {
  removeTestCgroups();
}
