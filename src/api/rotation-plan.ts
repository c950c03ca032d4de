/** The steps a rotation of this strategy takes, as a dry run lists them. */
export function rotationPlanSteps(strategy: 'rotate-secret' | 'replace', hasProbe: boolean): string[] {
  return strategy === 'rotate-secret'
    ? [
        'resolve',
        'issue (rotate, previous secret kept for the overlap)',
        'propagate',
        hasProbe ? 'verify (read back every store, probe the app)' : 'verify (read back every store)',
        'wait',
        'retire (previous secret expires now)',
        'finish',
      ]
    : [
        'resolve',
        'issue (create a new token)',
        'bind (add it beside the old one in every Access policy)',
        'propagate',
        hasProbe ? 'verify (read back every store, probe the app)' : 'verify (read back every store)',
        'wait',
        'retire (unbind and delete the old token)',
        'finish',
      ];
}
