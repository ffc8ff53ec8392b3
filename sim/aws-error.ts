/**
 * Errors shaped like the AWS SDK v3's service exceptions: `name` is the error code
 * ('ValidationError', 'Throttling', …) and `$fault` says whose fault it was. lib/errors.ts
 * classifies errors by `name` and message only, so the simulator's answers go through the
 * same predicates (`isNoActiveLifecycleAction`, `isValidationError`) as the SDK's.
 */
export class SimAwsError extends Error {
  readonly $fault: 'client' | 'server';
  readonly $metadata = { httpStatusCode: 400, attempts: 1 };

  constructor(name: string, message: string, fault: 'client' | 'server' = 'client') {
    super(message);
    this.name = name;
    this.$fault = fault;
    if (fault === 'server') this.$metadata.httpStatusCode = 500;
  }
}

export function validationError(message: string): SimAwsError {
  return new SimAwsError('ValidationError', message);
}
