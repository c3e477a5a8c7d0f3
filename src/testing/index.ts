/**
 * Model-based testing of XState machines that use `invoke` and `after` (see docs/testing.md):
 * derive a test model from a production machine, generate paths, and check that a live run of the
 * runtime visited every state and transition.
 */
export {
  type CoverageReport,
  createMachineCoverage,
  describeTransition,
  type MachineCoverage,
} from './coverage.js';
export {
  type DerivedEvent,
  type DerivedEventKind,
  type DerivedTestMachine,
  deriveTestMachine,
  TRANSITION_MARKER,
  transitionKey,
} from './derive-test-machine.js';
export {
  corruptSample,
  type FaultInjectingDriver,
  type FaultKind,
  type FaultOptions,
  mulberry32,
  withFaults,
} from './fault-injection.js';
export {
  createMachineTestModel,
  describePath,
  type EventExecutor,
  type EventVariant,
  type MachineTestModel,
  type MachineTestModelOptions,
  type ModelEvent,
  type ModelPath,
  type ModelSnapshot,
} from './machine-test-model.js';
export { runSoak, type SoakOptions, type SoakReport } from './soak.js';
export { installVirtualClock, type VirtualClock } from './soak-clock.js';
