import { useMutation } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';

import { api, call } from '../../api/client';
import { errorMessage, isApiError } from '../../api/errors';
import { Button } from '../../ui/Button';
import { FormError } from '../../ui/Field';
import { AuthLayout } from './AuthLayout';
import { LinkNotice, textLinkClass, useLinkToken } from './oneTimeLink';
import { NewPasswordFields, newPasswordErrors, type NewPasswordErrors } from './PasswordFields';

/** The server's refusal of the password itself, as words on the field (else none). */
function serverFieldErrors(err: unknown): NewPasswordErrors {
  if (!isApiError(err)) return {};
  if (err.is('weak_password') || err.field === 'new_password' || err.field === 'password') return { password: err.message };
  return {};
}

/** `/reset#<token>`: a new password with the link an administrator handed over. */
export default function ResetPasswordPage() {
  const token = useLinkToken();
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [clientErrors, setClientErrors] = useState<NewPasswordErrors>({});
  const reset = useMutation({
    mutationFn: (body: { token: string; new_password: string }) => call(api.POST('/api/auth/password-reset', { body })),
  });

  function submit(e: FormEvent) {
    e.preventDefault();
    reset.reset();
    const errors = newPasswordErrors(password, confirm);
    setClientErrors(errors);
    if (token && Object.keys(errors).length === 0) reset.mutate({ token, new_password: password });
  }

  const fieldErrors = { ...serverFieldErrors(reset.error), ...clientErrors };
  const formError = reset.error && Object.keys(serverFieldErrors(reset.error)).length === 0 ? errorMessage(reset.error) : null;

  let body;
  if (!token) {
    body = (
      <LinkNotice>
        <p>This page needs a password reset link. Ask an administrator of this server for one, and open it as it is, with the part after “#”.</p>
      </LinkNotice>
    );
  } else if (reset.isSuccess) {
    body = (
      <LinkNotice action="Sign in">
        <p role="status">Your new password is set. Every earlier sign-in of your account has ended: sign in with the new password.</p>
      </LinkNotice>
    );
  } else if (isApiError(reset.error, 'link_invalid')) {
    body = (
      <LinkNotice alert>
        <p>This reset link was used already or has expired. Ask your administrator for a new one.</p>
      </LinkNotice>
    );
  } else {
    body = (
      <form onSubmit={submit} noValidate className="space-y-4">
        <FormError>{formError}</FormError>
        <NewPasswordFields label="New password" password={password} confirm={confirm} onPassword={setPassword} onConfirm={setConfirm} errors={fieldErrors} />
        <Button type="submit" variant="primary" className="w-full" loading={reset.isPending} disabled={!password || !confirm}>
          Set new password
        </Button>
      </form>
    );
  }

  return (
    <AuthLayout
      title="Choose a new password"
      subtitle="For your Tessera account."
      footer={
        reset.isSuccess ? null : (
          <>
            Remember it after all?{' '}
            <Link className={textLinkClass} to="/signin">
              Sign in
            </Link>
          </>
        )
      }
    >
      {body}
    </AuthLayout>
  );
}
