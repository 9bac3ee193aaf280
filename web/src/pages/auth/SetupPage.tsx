import { useState, type FormEvent } from 'react';
import { Link, useNavigate } from 'react-router';

import { errorMessage, isApiError, type ApiError } from '../../api/errors';
import { useAuth } from '../../auth/AuthContext';
import { Button } from '../../ui/Button';
import { FormError, TextField } from '../../ui/Field';
import { AuthLayout } from './AuthLayout';
import { LinkNotice, textLinkClass, useLinkToken } from './oneTimeLink';
import { NewPasswordFields, newPasswordErrors } from './PasswordFields';

type Field = 'email' | 'display_name' | 'password' | 'confirm';
type Outcome = 'link_invalid' | 'setup_done';

/** Server codes that belong to one field of this form. */
const FIELD_OF_CODE: Record<string, Field> = { invalid_email: 'email', weak_password: 'password' };

function fieldErrorsOf(err: ApiError): Partial<Record<Field, string>> {
  const field = err.field === 'new_password' ? 'password' : (err.field ?? FIELD_OF_CODE[err.code]);
  return field ? { [field]: err.message } : {};
}

function Dead({ outcome }: { outcome: Outcome | 'no_token' }) {
  if (outcome === 'setup_done') {
    return (
      <LinkNotice alert>
        <p>Tessera already has an administrator, so this setup link no longer applies.</p>
        <p>Sign in with that account; an administrator can give you an account of your own.</p>
      </LinkNotice>
    );
  }
  if (outcome === 'link_invalid') {
    return (
      <LinkNotice alert>
        <p>This setup link was used already or has expired. Restart Tessera to print a new one.</p>
      </LinkNotice>
    );
  }
  return (
    <LinkNotice>
      <p>
        This page needs the setup link that Tessera prints on a fresh install, in the terminal that ran <code>tessera serve</code> (or <code>make run</code>).
      </p>
      <p>Open that link as it is, with the part after “#”. If Tessera is set up already, sign in instead.</p>
    </LinkNotice>
  );
}

/** `/setup#<token>`: create the first administrator with the link `tessera serve` printed, and sign in. */
export default function SetupPage() {
  const token = useLinkToken();
  const { setUp } = useAuth();
  const navigate = useNavigate();
  const [email, setEmail] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<Partial<Record<Field, string>>>({});
  const [outcome, setOutcome] = useState<Outcome | null>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    const errors = newPasswordErrors(password, confirm);
    setFieldErrors(errors);
    if (!token || Object.keys(errors).length > 0) return;
    setBusy(true);
    try {
      await setUp({ token, email: email.trim(), display_name: displayName.trim(), password });
      void navigate('/', { replace: true });
    } catch (err) {
      setBusy(false);
      if (isApiError(err) && err.is('link_invalid', 'setup_done')) {
        setOutcome(err.code as Outcome);
        return;
      }
      const fields = isApiError(err) ? fieldErrorsOf(err) : {};
      if (Object.keys(fields).length > 0) setFieldErrors(fields);
      else setError(errorMessage(err));
    }
  }

  return (
    <AuthLayout
      title="Create the administrator"
      subtitle="The first account of this server. It manages users, models and quotas."
      footer={
        <>
          Set up already?{' '}
          <Link className={textLinkClass} to="/signin">
            Sign in
          </Link>
        </>
      }
    >
      {!token || outcome ? (
        <Dead outcome={outcome ?? 'no_token'} />
      ) : (
        <form onSubmit={submit} noValidate className="space-y-4">
          <FormError>{error}</FormError>
          <TextField
            label="Email"
            type="email"
            name="email"
            autoComplete="username"
            inputMode="email"
            required
            maxLength={254}
            autoFocus
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            error={fieldErrors.email}
          />
          <TextField
            label="Display name"
            name="display_name"
            autoComplete="name"
            required
            maxLength={100}
            value={displayName}
            onChange={(e) => setDisplayName(e.target.value)}
            error={fieldErrors.display_name}
          />
          <NewPasswordFields password={password} confirm={confirm} onPassword={setPassword} onConfirm={setConfirm} errors={fieldErrors} />
          <Button type="submit" variant="primary" className="w-full" loading={busy} disabled={!email || !displayName || !password || !confirm}>
            Create administrator
          </Button>
        </form>
      )}
    </AuthLayout>
  );
}
