import { createAuthFailureCounter, sourceOf } from '../../src/api/auth-failures';

describe('failed authentications are counted per source', () => {
  it('takes an IPv4 address as it is and an IPv6 address by its /64', () => {
    expect(sourceOf('203.0.113.7')).toBe('203.0.113.7');
    expect(sourceOf('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(sourceOf('2001:db8:1:2::a')).toBe('2001:db8:1:2::/64');
    expect(sourceOf('2001:0db8:0001:0002:ffff:eeee:dddd:cccc')).toBe('2001:db8:1:2::/64');
    expect(sourceOf('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(sourceOf('::1')).toBe('0:0:0:0::/64');
    expect(sourceOf('2001:db8:1:3::a')).not.toBe(sourceOf('2001:db8:1:2::a'));
  });

  it('blocks a source past its limit until its window ends, whichever of its addresses asks', () => {
    let now = 1_000_000;
    const counter = createAuthFailureCounter({ max: 3, perSeconds: 60 }, () => now);
    for (const address of ['2001:db8:1:2::a', '2001:db8:1:2::b', '2001:db8:1:2:ffff::1']) {
      expect(counter.retryAfterSeconds(address)).toBe(0);
      counter.recordFailure(address);
    }
    expect(counter.retryAfterSeconds('2001:db8:1:2::c')).toBe(60);
    expect(counter.retryAfterSeconds('2001:db8:1:3::a')).toBe(0);
    now += 59_500;
    expect(counter.retryAfterSeconds('2001:db8:1:2::a')).toBe(1);
    now += 500;
    expect(counter.retryAfterSeconds('2001:db8:1:2::a')).toBe(0);
  });
});
