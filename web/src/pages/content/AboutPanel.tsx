import { useId, useState, type FormEvent } from 'react';
import { Link } from 'react-router';

import { Button } from '../../ui/Button';
import { FormError } from '../../ui/Field';
import { SparklesIcon } from '../../ui/icons';
import { SkeletonText } from '../../ui/Skeleton';
import { useToast } from '../../ui/toast';
import type { Statement } from './analysis';
import { contentError } from './messages';
import { Muted, Panel } from './Panel';
import { useItemText, type Item } from './useContentItem';
import { useUpdateItem } from './useItemMutations';
import { latestOutput, useGenerate, useOutputs, type GenerateKind } from './useOutputs';

const MAX_DESCRIPTION = 10_000;

/** The owner's own description of the item, editable in place. */
export function DescriptionPanel({ item }: { item: Item }) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState('');
  const [error, setError] = useState<string>();
  const update = useUpdateItem(item.id);
  const fieldId = useId();
  const editable = !item.deleted_at;

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const text = draft.trim();
    update.mutate(
      { description: text === '' ? null : text },
      {
        onSuccess: () => setEditing(false),
        onError: (err) => setError(contentError(err)),
      },
    );
  };

  return (
    <Panel
      title="Description"
      actions={
        editable &&
        !editing && (
          <Button
            size="sm"
            variant="ghost"
            onClick={() => {
              setDraft(item.description ?? '');
              setError(undefined);
              setEditing(true);
            }}
          >
            {item.description ? 'Edit description' : 'Add description'}
          </Button>
        )
      }
    >
      {editing ? (
        <form onSubmit={submit} className="space-y-3" onKeyDown={(e) => e.key === 'Escape' && setEditing(false)}>
          <label htmlFor={fieldId} className="sr-only">
            Description
          </label>
          <textarea
            id={fieldId}
            value={draft}
            maxLength={MAX_DESCRIPTION}
            rows={4}
            autoFocus
            onChange={(e) => setDraft(e.target.value)}
            placeholder="What is this? Words here are searchable."
            className="block w-full rounded-lg border border-zinc-300 bg-white px-3 py-2 text-sm text-zinc-900 shadow-sm placeholder:text-zinc-400 focus:border-brand-500 focus:outline-2 focus:outline-brand-500/30 dark:border-zinc-700 dark:bg-zinc-900 dark:text-zinc-100"
          />
          <FormError>{error}</FormError>
          <div className="flex justify-end gap-2">
            <Button onClick={() => setEditing(false)} disabled={update.isPending}>
              Cancel
            </Button>
            <Button type="submit" variant="primary" loading={update.isPending}>
              Save description
            </Button>
          </div>
        </form>
      ) : item.description ? (
        <p className="text-sm leading-6 whitespace-pre-wrap break-words text-zinc-800 dark:text-zinc-200">{item.description}</p>
      ) : (
        <Muted>No description yet.</Muted>
      )}
    </Panel>
  );
}

/**
 * What a model wrote about the item: the analysis' own summary or description when it made one,
 * otherwise the newest one generated on request, otherwise a button to ask for one.
 */
export function GeneratedPanel({
  item,
  kind,
  fromAnalysis,
  statements = [],
  model,
  analysisPending,
}: {
  item: Item;
  kind: GenerateKind;
  fromAnalysis: string | undefined;
  /** The analysis' text sentence by sentence with sources; shown instead of `fromAnalysis`. */
  statements?: Statement[];
  model: string | undefined;
  analysisPending: boolean;
}) {
  const outputs = useOutputs(item.id);
  const output = fromAnalysis ? undefined : latestOutput(outputs.data?.items, kind);
  const outputText = useItemText(output);
  const generate = useGenerate(item.id, kind);
  const toast = useToast();
  const [error, setError] = useState<string>();
  const title = kind === 'summary' ? 'Summary' : statements.length > 0 ? 'What Tessera found' : 'What the model sees';
  const noun = kind === 'summary' ? 'summary' : 'description';

  const run = () => {
    setError(undefined);
    generate.mutate(undefined, {
      onSuccess: () => toast.success(`The ${noun} is ready`),
      onError: (err) => setError(contentError(err)),
    });
  };

  let body;
  if (statements.length > 0) {
    body = <Statements statements={statements} />;
  } else if (fromAnalysis) {
    body = <Prose text={fromAnalysis} />;
  } else if (output) {
    body = outputText.isPending ? (
      <SkeletonText lines={3} />
    ) : outputText.isError ? (
      <Muted>The {noun} could not be loaded.</Muted>
    ) : (
      <Prose text={outputText.data} />
    );
  } else if (analysisPending || outputs.isPending) {
    body = (
      <div role="status" aria-label={`Waiting for the ${noun}`}>
        <SkeletonText lines={3} />
      </div>
    );
  } else {
    body = (
      <div className="space-y-3">
        <Muted>
          {kind === 'summary' ? 'No summary yet: short items do not get one automatically.' : 'No description of the picture yet.'}
        </Muted>
        {!item.deleted_at && (
          <Button size="sm" icon={<SparklesIcon />} onClick={run} loading={generate.isPending}>
            {kind === 'summary' ? 'Generate summary' : 'Generate description'}
          </Button>
        )}
      </div>
    );
  }

  return (
    <Panel title={title}>
      <div aria-live="polite" aria-busy={generate.isPending || undefined}>
        {generate.isPending && <span className="sr-only">Writing the {noun}…</span>}
        {body}
      </div>
      <FormError>{error}</FormError>
      {(fromAnalysis || output || statements.length > 0) && (
        <p className="mt-3 text-xs text-zinc-500 dark:text-zinc-400">
          {output ? (
            <>
              Generated on request ·{' '}
              <Link to={`/content/${output.id}`} className="font-medium text-brand-600 hover:underline dark:text-brand-100">
                Open “{output.title}”
              </Link>
            </>
          ) : statements.length > 0 ? (
            <>Built from the findings during analysis; each sentence names its source.</>
          ) : (
            <>Written during analysis{model ? ` by ${model}` : ''}</>
          )}
        </p>
      )}
    </Panel>
  );
}

/** Each statement with its source; an uncertain one says so. */
function Statements({ statements }: { statements: Statement[] }) {
  return (
    <ul className="space-y-1.5 text-sm leading-6 text-zinc-800 dark:text-zinc-200">
      {statements.map((s, i) => (
        <li key={i} className="break-words">
          <span className={s.uncertain ? 'italic text-zinc-600 dark:text-zinc-400' : undefined}>{s.text}</span>{' '}
          <span className="text-xs text-zinc-500 dark:text-zinc-400">
            ({s.uncertain ? 'uncertain · ' : ''}
            {s.source})
          </span>
        </li>
      ))}
    </ul>
  );
}

function Prose({ text }: { text: string }) {
  return <p className="text-sm leading-6 whitespace-pre-wrap break-words text-zinc-800 dark:text-zinc-200">{text.trim()}</p>;
}
