import { useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';

import { errorMessage, isApiError, type ApiError } from '../../api/errors';
import { useAuth } from '../../auth/AuthContext';
import { checkPassword, PASSWORD_MIN_CHARS } from '../../auth/password';
import { Button } from '../../ui/Button';
import { FormError, TextField } from '../../ui/Field';
import { AuthLayout } from './AuthLayout';
import { LinkNotice } from './oneTimeLink';
import { PasswordRules } from './PasswordFields';

/** Server codes that belong to one field of this form. */
const FIELD_OF_CODE: Record<string, 'email' | 'password' | 'display_name'> = {
  invalid_email: 'email',
  email_taken: 'email',
  weak_password: 'password',
};

function fieldErrorsOf(err: ApiError): Record<string, string> {
  const field = err.field ?? FIELD_OF_CODE[err.code];
  if (!field) return {};
  // The server's own words say which rule failed (e.g. "it must not be your email address").
  return { [field]: err.is('email_taken') ? errorMessage(err) : err.message };
}

/**
 * `/signup`: ask for an account (when the server allows sign-ups). Where new accounts are let in at
 * once this signs in (and the route guard goes on to `next`); where an administrator approves them
 * first it says the request was received, and nothing about whether the address had an account.
 */
export default function SignUpPage() {
  const { signUp } = useAuth();
  const [params] = useSearchParams();
  const [email, setEmail] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [requested, setRequested] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const check = checkPassword(password);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setFieldErrors({});
    if (!check.ok) {
      setFieldErrors({ password: `Use at least ${PASSWORD_MIN_CHARS} characters.` });
      return;
    }
    setBusy(true);
    try {
      const outcome = await signUp({ email: email.trim(), display_name: displayName.trim(), password });
      if (outcome === 'awaiting_approval') {
        setPassword('');
        setRequested(true);
        setBusy(false);
      }
    } catch (err) {
      const fields = isApiError(err) ? fieldErrorsOf(err) : {};
      if (Object.keys(fields).length > 0) setFieldErrors(fields);
      else setError(errorMessage(err));
      setBusy(false);
    }
  }

  const next = params.get('next');
  const signInTo = next ? `/signin?next=${encodeURIComponent(next)}` : '/signin';
  if (requested) {
    return (
      <AuthLayout title="Request received" subtitle="An administrator reviews each new account." footer={null}>
        <LinkNotice action="Sign in" to={signInTo}>
          <p role="status">Once the request is approved, sign in with the email and password you entered.</p>
          <p>Tessera sends no email about it: try again later, or ask your administrator.</p>
        </LinkNotice>
      </AuthLayout>
    );
  }
  return (
    <AuthLayout
      title="Create your account"
      subtitle="Your files, your models, your server."
      footer={
        <>
          Already have an account?{' '}
          <Link className="font-medium text-brand-600 hover:underline dark:text-brand-100" to={signInTo}>
            Sign in
          </Link>
        </>
      }
    >
      <form onSubmit={submit} noValidate className="space-y-4">
        <FormError>{error}</FormError>
        <TextField
          label="Name"
          name="display_name"
          autoComplete="name"
          required
          maxLength={100}
          autoFocus
          value={displayName}
          onChange={(e) => setDisplayName(e.target.value)}
          error={fieldErrors.display_name}
        />
        <TextField
          label="Email"
          type="email"
          name="email"
          autoComplete="username"
          inputMode="email"
          required
          maxLength={254}
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          error={fieldErrors.email}
        />
        <TextField
          label="Password"
          type="password"
          name="password"
          autoComplete="new-password"
          required
          minLength={PASSWORD_MIN_CHARS}
          maxLength={256}
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={fieldErrors.password}
          hint={<PasswordRules check={check} />}
        />
        <Button type="submit" variant="primary" className="w-full" loading={busy} disabled={!email || !displayName || !password}>
          Create account
        </Button>
      </form>
    </AuthLayout>
  );
}
