import { describeMessageOptions } from './behaviour/message-options-behaviour.js';

describeMessageOptions('lists');
