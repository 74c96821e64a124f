import { describeBusContract } from './bus.contract.js';
import { MemoryBus } from './memory-bus.js';

describeBusContract('in-process', async () => new MemoryBus());
