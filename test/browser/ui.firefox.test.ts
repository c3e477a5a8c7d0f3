// The web UI in Debian's Firefox ESR (puppeteer-core, WebDriver BiDi): the checks of ui-scenarios.ts.
import { describeUi } from './ui-scenarios.js';

describeUi('firefox');
