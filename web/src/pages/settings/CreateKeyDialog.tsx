import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useId, useState, type FormEvent } from 'react';

import { api, call, type Schema } from '../../api/client';
import { errorMessage, isApiError } from '../../api/errors';
import { queryKeys } from '../../api/queryKeys';
import { useAuth } from '../../auth/AuthContext';
import { Button } from '../../ui/Button';
import { CopyButton } from '../../ui/CopyButton';
import { cx } from '../../ui/cx';
import { Dialog } from '../../ui/Dialog';
import { FormError, inputClass, TextField } from '../../ui/Field';
import { AlertIcon } from '../../ui/icons';
import {
  DEFAULT_SCOPES,
  EXPIRY_CHOICES,
  expiresAtFor,
  KeyExpiry,
  ScopeBadges,
  SCOPES,
  type ExpiryChoice,
  type Scope,
  type ScopeInfo,
} from './apiKeyParts';

type CreatedKey = Schema<'CreatedApiKeyResponse'>;
type CreateBody = Schema<'CreateApiKeyRequest'>;
type KeyField = 'name' | 'scopes' | 'expires_at';

const labelClass = 'block text-sm font-medium text-zinc-800 dark:text-zinc-200';
const hintClass = 'text-xs text-zinc-500 dark:text-zinc-400';
const errorClass = 'text-xs font-medium text-red-600 dark:text-red-400';

let dateFormat: Intl.DateTimeFormat | undefined;
/** "12 Apr 2026" in the browser's locale. */
const formatDate = (iso: string) => (dateFormat ??= new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' })).format(new Date(iso));

/** The server's refusal as words on one field of the form, or above it. */
function describeCreateError(err: unknown, body: CreateBody | undefined): { fields: Partial<Record<KeyField, string>>; form: string | null } {
  if (!err) return { fields: {}, form: null };
  if (isApiError(err)) {
    if (err.field === 'name' || err.field === 'scopes' || err.field === 'expires_at') return { fields: { [err.field]: err.message }, form: null };
    if (err.is('forbidden') && body?.scopes?.includes('admin')) {
      return { fields: { scopes: 'Only administrators can give a key the Admin scope.' }, form: null };
    }
    if (err.is('insufficient_scope')) {
      return { fields: {}, form: 'You are not allowed to create a key with these scopes: a key never gives a scope its maker lacks.' };
    }
    if (err.is('too_many_api_keys')) {
      return { fields: {}, form: 'You already have as many API keys as this server allows. Revoke one you no longer use, then try again.' };
    }
  }
  return { fields: {}, form: errorMessage(err) };
}

/** The scope checkboxes, each with a line on what it allows; at least one must stay checked. */
function ScopesField({ choices, value, onChange, error }: { choices: readonly ScopeInfo[]; value: readonly Scope[]; onChange: (s: Scope[]) => void; error: string | undefined }) {
  const id = useId();
  const noneError = value.length === 0 ? 'Choose at least one scope.' : undefined;
  const shown = noneError ?? error;
  const toggle = (scope: Scope, on: boolean) => onChange(SCOPES.map((s) => s.scope).filter((s) => (s === scope ? on : value.includes(s))));
  return (
    <fieldset className="space-y-2" aria-describedby={shown ? `${id}-error` : undefined}>
      <legend className={cx(labelClass, 'mb-1.5')}>Scopes</legend>
      {choices.map((s) => (
        <div key={s.scope} className="flex items-start gap-3">
          <input
            id={`${id}-${s.scope}`}
            type="checkbox"
            name="scopes"
            value={s.scope}
            checked={value.includes(s.scope)}
            onChange={(e) => toggle(s.scope, e.target.checked)}
            aria-describedby={`${id}-${s.scope}-hint`}
            className="mt-0.5 size-4 shrink-0 accent-brand-600"
          />
          <div className="min-w-0">
            <label htmlFor={`${id}-${s.scope}`} className="block text-sm font-medium text-zinc-800 dark:text-zinc-200">
              {s.label}
            </label>
            <p id={`${id}-${s.scope}-hint`} className={hintClass}>
              {s.hint}
            </p>
          </div>
        </div>
      ))}
      {shown && (
        <p id={`${id}-error`} className={errorClass}>
          {shown}
        </p>
      )}
    </fieldset>
  );
}

/** Never, or a number of days from the moment the key is created. */
function ExpiryField({ value, onChange, error }: { value: ExpiryChoice; onChange: (c: ExpiryChoice) => void; error: string | undefined }) {
  const id = useId();
  const until = expiresAtFor(value);
  return (
    <div className="space-y-1.5">
      <label htmlFor={id} className={labelClass}>
        Expiry
      </label>
      <select
        id={id}
        value={value}
        onChange={(e) => onChange(e.target.value as ExpiryChoice)}
        aria-invalid={error ? true : undefined}
        aria-describedby={cx(`${id}-hint`, error && `${id}-error`)}
        className={inputClass}
      >
        {EXPIRY_CHOICES.map((c) => (
          <option key={c.value} value={c.value}>
            {c.label}
          </option>
        ))}
      </select>
      <p id={`${id}-hint`} className={hintClass}>
        {until ? `The key stops working on ${formatDate(until)}.` : 'The key works until you revoke it.'}
      </p>
      {error && (
        <p id={`${id}-error`} className={errorClass}>
          {error}
        </p>
      )}
    </div>
  );
}

/** The new key, shown this once, with what it may do and until when. */
function CreatedKeyPanel({ created }: { created: CreatedKey }) {
  return (
    <div className="space-y-3">
      <label className="block text-sm font-medium" htmlFor="new-api-key">
        {created.name}
      </label>
      <div className="flex flex-col gap-2 sm:flex-row">
        <input
          id="new-api-key"
          readOnly
          value={created.key}
          onFocus={(e) => e.currentTarget.select()}
          className={cx(inputClass, 'font-mono text-xs')}
          spellCheck={false}
        />
        <CopyButton text={created.key} variant="primary" />
      </div>
      <dl className="grid grid-cols-[auto_1fr] items-center gap-x-4 gap-y-2 text-sm">
        <dt className="text-zinc-500 dark:text-zinc-400">Scopes</dt>
        <dd>
          <ScopeBadges scopes={created.scopes} />
        </dd>
        <dt className="text-zinc-500 dark:text-zinc-400">Expiry</dt>
        <dd>
          <KeyExpiry expiresAt={created.expires_at} exact />
        </dd>
      </dl>
      <p className="flex items-start gap-2 rounded-lg bg-amber-50 px-3 py-2 text-xs text-amber-900 dark:bg-amber-500/10 dark:text-amber-200">
        <AlertIcon className="mt-px size-4 shrink-0" />
        <span>
          Send it as <code className="font-mono">Authorization: Bearer &lt;key&gt;</code>. Anyone with the key can do what its scopes allow, as you.
        </span>
      </p>
    </div>
  );
}

/** Name the key, choose its scopes and expiry; then show its secret once. */
export function CreateKeyDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const queryClient = useQueryClient();
  const { isAdmin } = useAuth();
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<Scope[]>([...DEFAULT_SCOPES]);
  const [expiry, setExpiry] = useState<ExpiryChoice>('never');
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const create = useMutation({
    mutationFn: (body: CreateBody) => call(api.POST('/api/me/api-keys', { body })),
    onSuccess: (key) => {
      setCreated(key);
      void queryClient.invalidateQueries({ queryKey: queryKeys.apiKeys });
    },
  });

  // Admin is offered to admins only, and never checked unless asked for.
  const choices = SCOPES.filter((s) => s.scope !== 'admin' || isAdmin);
  const chosen = scopes.filter((s) => choices.some((c) => c.scope === s));

  const close = () => {
    onClose();
    // Forget the secret as soon as the dialog goes: it is never shown again.
    setCreated(null);
    setName('');
    setScopes([...DEFAULT_SCOPES]);
    setExpiry('never');
    create.reset();
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim() || chosen.length === 0 || create.isPending) return;
    // The expiry counts from now, not from when the choice was made.
    const expiresAt = expiresAtFor(expiry);
    create.mutate({ name: name.trim(), scopes: chosen, ...(expiresAt ? { expires_at: expiresAt } : {}) });
  };

  const errors = describeCreateError(create.error, create.variables);

  if (created) {
    return (
      <Dialog
        open={open}
        onClose={close}
        title="Copy your new key"
        description="This is the only time the key is shown. Store it somewhere safe, such as a password manager or your CI's secrets."
        footer={
          <Button variant="primary" onClick={close}>
            Done
          </Button>
        }
      >
        <CreatedKeyPanel created={created} />
      </Dialog>
    );
  }

  return (
    <Dialog
      open={open}
      onClose={close}
      title="Create an API key"
      description="Keys let scripts and other apps use Tessera's API as you, within the scopes you give them."
      footer={
        <>
          <Button onClick={close}>Cancel</Button>
          <Button type="submit" form="create-api-key" variant="primary" loading={create.isPending} disabled={!name.trim() || chosen.length === 0}>
            Create key
          </Button>
        </>
      }
    >
      <form id="create-api-key" onSubmit={submit} noValidate className="space-y-4">
        <FormError>{errors.form}</FormError>
        <TextField
          label="Name"
          placeholder="e.g. CI uploader"
          hint="Something to tell this key apart from the others."
          maxLength={100}
          required
          autoFocus
          value={name}
          onChange={(e) => setName(e.target.value)}
          error={errors.fields.name}
        />
        <ScopesField choices={choices} value={chosen} onChange={setScopes} error={errors.fields.scopes} />
        <ExpiryField value={expiry} onChange={setExpiry} error={errors.fields.expires_at} />
      </form>
    </Dialog>
  );
}
