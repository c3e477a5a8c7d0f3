// The web UI in Debian's Chromium (playwright-core): the checks of ui-scenarios.ts.
import { describeUi } from './ui-scenarios.js';

describeUi('chromium');
