import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent, type ReactNode } from 'react';
import { useNavigate } from 'react-router';

import { api, call } from '../../api/client';
import { errorMessage, isApiError } from '../../api/errors';
import { queryKeys } from '../../api/queryKeys';
import { endSession, recordTokens } from '../../api/session';
import { PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS } from '../../auth/password';
import { Button } from '../../ui/Button';
import { ConfirmDialog } from '../../ui/Dialog';
import { FormError, TextField } from '../../ui/Field';
import { CheckIcon, LogOutIcon } from '../../ui/icons';
import { PageHeader } from '../../ui/PageHeader';
import { useToast } from '../../ui/toast';
import { SessionList } from './SessionList';

type PasswordField = 'current_password' | 'new_password' | 'confirm';
type FieldErrors = Partial<Record<PasswordField, string>>;

/** The server's error as words on one field of the form, else none (it goes above the form). */
function serverFieldErrors(err: unknown): FieldErrors {
  if (!isApiError(err)) return {};
  if (err.is('validation_failed') && err.field === 'current_password') {
    return { current_password: 'That is not your current password.' };
  }
  // The server's own words say which rule failed (its field is `password` for every form).
  if (err.is('weak_password')) return { new_password: err.message };
  if (err.field === 'new_password') return { new_password: err.message };
  return {};
}

function Section({ id, title, description, children }: { id: string; title: string; description: ReactNode; children: ReactNode }) {
  return (
    <section aria-labelledby={id} className="rounded-xl border border-zinc-200 bg-white p-4 sm:p-5 dark:border-zinc-800 dark:bg-zinc-900/60">
      <h2 id={id} className="text-base font-semibold text-zinc-900 dark:text-zinc-50">
        {title}
      </h2>
      <p className="mt-1 mb-4 text-sm text-zinc-600 dark:text-zinc-400">{description}</p>
      {children}
    </section>
  );
}

/** Current, new and repeated password; a change ends every other sign-in and renews this one. */
function PasswordSection() {
  const queryClient = useQueryClient();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [clientErrors, setClientErrors] = useState<FieldErrors>({});
  const change = useMutation({
    mutationFn: (body: { current_password: string; new_password: string }) => call(api.POST('/api/me/password', { body })),
    onSuccess: (tokens) => {
      // The cookies were replaced by a new session: keep its times so refreshes stay on schedule.
      recordTokens(tokens);
      // Every other sign-in ended and this one was replaced.
      void queryClient.invalidateQueries({ queryKey: queryKeys.sessions });
      setCurrent('');
      setNext('');
      setConfirm('');
    },
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    change.reset();
    const errors: FieldErrors = {};
    if ([...next].length < PASSWORD_MIN_CHARS) errors.new_password = `Use at least ${PASSWORD_MIN_CHARS} characters.`;
    if (confirm !== next) errors.confirm = 'The two new passwords do not match.';
    setClientErrors(errors);
    if (Object.keys(errors).length === 0) change.mutate({ current_password: current, new_password: next });
  };

  const fieldErrors = { ...serverFieldErrors(change.error), ...clientErrors };
  const formError = change.error && Object.keys(serverFieldErrors(change.error)).length === 0 ? errorMessage(change.error) : null;

  return (
    <Section id="password-heading" title="Password" description="Changing your password signs you out on every other device.">
      <form onSubmit={submit} noValidate className="max-w-md space-y-4">
        <FormError>{formError}</FormError>
        <TextField
          label="Current password"
          type="password"
          name="current_password"
          autoComplete="current-password"
          required
          maxLength={PASSWORD_MAX_CHARS}
          value={current}
          onChange={(e) => setCurrent(e.target.value)}
          error={fieldErrors.current_password}
        />
        <TextField
          label="New password"
          type="password"
          name="new_password"
          autoComplete="new-password"
          required
          minLength={PASSWORD_MIN_CHARS}
          maxLength={PASSWORD_MAX_CHARS}
          value={next}
          onChange={(e) => setNext(e.target.value)}
          error={fieldErrors.new_password}
          hint={`At least ${PASSWORD_MIN_CHARS} characters and hard to guess: a few unusual words work well.`}
        />
        <TextField
          label="Confirm new password"
          type="password"
          name="confirm_password"
          autoComplete="new-password"
          required
          maxLength={PASSWORD_MAX_CHARS}
          value={confirm}
          onChange={(e) => setConfirm(e.target.value)}
          error={fieldErrors.confirm}
        />
        <div role="status" aria-live="polite" className="empty:hidden">
          {change.isSuccess && (
            <p className="flex items-center gap-2 text-sm text-emerald-700 dark:text-emerald-400">
              <CheckIcon className="size-4 shrink-0" />
              Password changed. You were signed out on every other device.
            </p>
          )}
        </div>
        <Button type="submit" variant="primary" loading={change.isPending} disabled={!current || !next || !confirm}>
          Change password
        </Button>
      </form>
    </Section>
  );
}

/** Ends every sign-in of the account, this one included, then goes to the sign-in page. */
function SignOutEverywhereSection() {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const toast = useToast();
  const [confirming, setConfirming] = useState(false);
  const signOutAll = useMutation({
    mutationFn: () => call(api.POST('/api/auth/logout-all')),
    onSuccess: () => {
      setConfirming(false);
      endSession();
      // `endSession` tells the app only when it knew of a session; be signed out all the same.
      queryClient.setQueryData(queryKeys.me, null);
      toast.info('Signed out everywhere');
      void navigate('/signin', { replace: true });
    },
    onError: (err) => toast.error(err, 'Could not sign out everywhere'),
  });

  return (
    <Section
      id="sign-out-everywhere-heading"
      title="Sign out everywhere"
      description="Ends every sign-in on every device, this one included. Your API keys keep working."
    >
      <Button variant="danger" icon={<LogOutIcon />} onClick={() => setConfirming(true)}>
        Sign out everywhere
      </Button>
      <ConfirmDialog
        open={confirming}
        onCancel={() => setConfirming(false)}
        onConfirm={() => signOutAll.mutate()}
        busy={signOutAll.isPending}
        danger
        title="Sign out everywhere?"
        description="Every device signed in to your account, this one included, is signed out at once. API keys are not affected."
        confirmLabel="Sign out everywhere"
      />
    </Section>
  );
}

/** `/settings/security`: change the password, see and end sign-ins, and sign out everywhere. */
export default function SecurityPage() {
  return (
    <>
      <PageHeader title="Security" description="Your password and where you are signed in." />
      <div className="space-y-6">
        <PasswordSection />
        <Section
          id="sessions-heading"
          title="Signed-in devices"
          description="Where your account is signed in now. Signing a device out ends its sign-in within seconds."
        >
          <SessionList />
        </Section>
        <SignOutEverywhereSection />
      </div>
    </>
  );
}
