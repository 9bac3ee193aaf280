import { useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';

import { errorMessage, isApiError } from '../../api/errors';
import { useAuth } from '../../auth/AuthContext';
import { Button } from '../../ui/Button';
import { FormError, TextField } from '../../ui/Field';
import { AuthLayout } from './AuthLayout';

/** `/signin`: email and password. On success the route guard goes on to `?next=`. */
export default function SignInPage() {
  const { signIn } = useAuth();
  const [params] = useSearchParams();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setFieldErrors({});
    setBusy(true);
    try {
      await signIn({ email: email.trim(), password });
    } catch (err) {
      if (isApiError(err) && err.field) setFieldErrors(err.fields);
      else setError(errorMessage(err));
      setBusy(false);
    }
  }

  const next = params.get('next');
  return (
    <AuthLayout
      title="Sign in to Tessera"
      subtitle="Welcome back."
      footer={
        <>
          New here?{' '}
          <Link className="font-medium text-brand-600 hover:underline dark:text-brand-100" to={next ? `/signup?next=${encodeURIComponent(next)}` : '/signup'}>
            Create an account
          </Link>
        </>
      }
    >
      <form onSubmit={submit} noValidate className="space-y-4">
        <FormError>{error}</FormError>
        <TextField
          label="Email"
          type="email"
          name="email"
          autoComplete="username"
          inputMode="email"
          required
          autoFocus
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          error={fieldErrors.email}
        />
        <TextField
          label="Password"
          type="password"
          name="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={fieldErrors.password}
        />
        <Button type="submit" variant="primary" className="w-full" loading={busy} disabled={!email || !password}>
          Sign in
        </Button>
      </form>
    </AuthLayout>
  );
}
