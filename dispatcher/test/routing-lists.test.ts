import { describeRoutingBehaviour } from './behaviour/routing-behaviour.js';

describeRoutingBehaviour('lists');
