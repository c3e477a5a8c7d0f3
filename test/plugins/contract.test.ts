/** The driver contract, against every built-in driver in process and over RPC (real plugin processes). */
import { describeDriverContract } from './driver-contract.js';
import { inProcessTargets, rpcTargets } from './targets.js';

for (const target of [...inProcessTargets, ...rpcTargets]) describeDriverContract(target);
