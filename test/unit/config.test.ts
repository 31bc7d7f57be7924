/** Configuration read from the environment: what is accepted and what is refused at start-up. */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

const withTrustProxy = (value: string) => loadConfig({}, { CRM_BRIDGE_TRUST_PROXY: value });

describe('CRM_BRIDGE_TRUST_PROXY', () => {
  it('takes false, a hop count, or proxy addresses and CIDRs', () => {
    expect(loadConfig({}, {}).trustProxy).toBe(false);
    expect(withTrustProxy('false').trustProxy).toBe(false);
    expect(withTrustProxy('1').trustProxy).toBe(1);
    expect(withTrustProxy('2').trustProxy).toBe(2);
    expect(withTrustProxy('10.0.0.0/8, 127.0.0.1,::1,fd00::/8,loopback').trustProxy).toEqual([
      '10.0.0.0/8',
      '127.0.0.1',
      '::1',
      'fd00::/8',
      'loopback',
    ]);
  });

  it('refuses true (it would trust any client\u2019s X-Forwarded-For) and anything that is not an address, saying what to give instead', () => {
    expect(() => withTrustProxy('true')).toThrow(
      /trustProxy: give the number of proxies in front of crm-bridge \(e\.g\. 1\) or their addresses/,
    );
    expect(() => withTrustProxy('yes')).toThrow(/not true/);
    expect(() => withTrustProxy('10.0.0.0/33,proxy.example')).toThrow(
      /not a hop count nor IP addresses\/CIDRs: 10\.0\.0\.0\/33, proxy\.example/,
    );
  });
});
