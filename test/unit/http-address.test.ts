import { describe, expect, it } from 'vitest';
import { parseHttpAddr } from '../../src/http/address.js';

describe('parseHttpAddr', () => {
  it.each([
    [':9464', { host: undefined, port: 9464 }],
    ['0.0.0.0:9464', { host: '0.0.0.0', port: 9464 }],
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    ['[::1]:9464', { host: '::1', port: 9464 }],
    ['relay.local:80', { host: 'relay.local', port: 80 }],
    ['off', null],
  ])('%s', (text, expected) => {
    expect(parseHttpAddr(text)).toEqual(expected);
  });
  it.each(['9464', 'localhost', ':65536', 'a b:1', '[::1]', 'on', ''])('rejects %j', (text) => {
    expect(parseHttpAddr(text)).toBeUndefined();
  });
});
