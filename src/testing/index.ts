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
} from './coverage.ts';
export {
  type DerivedEvent,
  type DerivedEventKind,
  type DerivedTestMachine,
  deriveTestMachine,
  TRANSITION_MARKER,
  transitionKey,
} from './derive-test-machine.ts';
export {
  corruptSample,
  type FaultInjectingDriver,
  type FaultKind,
  type FaultOptions,
  mulberry32,
  withFaults,
} from './fault-injection.ts';
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
} from './machine-test-model.ts';
export { runSoak, type SoakOptions, type SoakReport } from './soak.ts';
export { installVirtualClock, type VirtualClock } from './soak-clock.ts';
