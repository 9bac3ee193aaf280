import { useMutation } from '@tanstack/react-query';
import { useId, useState } from 'react';

import { api, call, type Schema } from '../../api/client';
import { Button } from '../../ui/Button';
import { CopyButton } from '../../ui/CopyButton';
import { Dialog } from '../../ui/Dialog';
import { inputClass } from '../../ui/Field';
import { formatDateTime } from '../../ui/format';
import { useToast } from '../../ui/toast';
import { adminErrorMessage } from './errors';

type User = Schema<'AdminUserView'>;
type Issued = { user: User; link: Schema<'IssuedLink'> };

/** Issues a user's password-reset link; the last one issued is kept for the dialog below. */
export function useResetLinks() {
  const toast = useToast();
  const [issued, setIssued] = useState<Issued | null>(null);
  const issue = useMutation({
    mutationFn: (user: User) => call(api.POST('/api/admin/users/{id}/reset-link', { params: { path: { id: user.id } } })),
    onSuccess: (link, user) => setIssued({ user, link }),
    onError: (err) => toast.show({ kind: 'error', title: 'Could not create a reset link', description: adminErrorMessage(err) }),
  });
  return {
    issue: issue.mutate,
    /** The user whose link is being made. */
    busyId: issue.isPending ? (issue.variables?.id ?? null) : null,
    issued,
    close: () => setIssued(null),
  };
}

/** Shows a freshly issued reset link, the only time it can be seen. */
export function ResetLinkDialog({ issued, onClose }: { issued: Issued | null; onClose: () => void }) {
  const who = issued ? issued.user.display_name || issued.user.email : '';
  const inputId = useId();
  return (
    <Dialog
      open={issued !== null}
      onClose={onClose}
      title={`Password reset link for ${who}`}
      description="Shown only now. Hand it to them yourself (Tessera sends no email), over a channel you trust."
      footer={
        <Button variant="primary" onClick={onClose}>
          Done
        </Button>
      }
    >
      {issued && (
        <div className="space-y-3">
          <label htmlFor={inputId} className="sr-only">
            Reset link
          </label>
          <div className="flex flex-col gap-2 sm:flex-row">
            <input id={inputId} readOnly value={issued.link.url} onFocus={(e) => e.currentTarget.select()} className={`${inputClass} font-mono text-xs`} />
            <CopyButton text={issued.link.url} />
          </div>
          <p className="text-sm text-zinc-600 dark:text-zinc-400">
            Works once, until {formatDateTime(issued.link.expires_at)}. With it, {who} chooses a new password, which signs them out everywhere.
          </p>
        </div>
      )}
    </Dialog>
  );
}
