import { useQuery } from '@tanstack/react-query';
import { useId } from 'react';

import { api, call } from '../../api/client';
import { cx } from '../../ui/cx';
import { inputClass } from '../../ui/Field';

export interface VoiceChoice {
  voice: string;
  speed: number;
}

export const DEFAULT_VOICE: VoiceChoice = { voice: '', speed: 1 };

/** Voices, formats and the most characters one request may speak (`GET /api/generate/voices`). */
export function useVoices() {
  return useQuery({
    queryKey: ['generate', 'voices'],
    queryFn: () => call(api.GET('/api/generate/voices')),
    staleTime: 10 * 60_000,
  });
}

/** The request fields of a voice choice (the server's default voice when none is chosen). */
export function voiceBody(v: VoiceChoice): { voice?: string; speed?: number } {
  return { ...(v.voice ? { voice: v.voice } : {}), ...(v.speed !== 1 ? { speed: v.speed } : {}) };
}

/** A voice and a speaking rate. */
export function VoiceControls({ value, onChange, disabled }: { value: VoiceChoice; onChange: (v: VoiceChoice) => void; disabled?: boolean }) {
  const voices = useVoices();
  const voiceId = useId();
  const speedId = useId();
  return (
    <div className="grid gap-4 sm:grid-cols-2">
      <div className="space-y-1.5">
        <label htmlFor={voiceId} className="block text-sm font-medium text-zinc-800 dark:text-zinc-200">
          Voice
        </label>
        <select
          id={voiceId}
          className={cx(inputClass, 'pr-8')}
          value={value.voice}
          disabled={disabled || voices.isPending}
          onChange={(e) => onChange({ ...value, voice: e.target.value })}
        >
          <option value="">{voices.isPending ? 'Loading voices…' : 'Default voice'}</option>
          {voices.data?.voices.map((v) => (
            <option key={v} value={v}>
              {v}
            </option>
          ))}
        </select>
        {voices.isError && <p className="text-xs text-red-600 dark:text-red-400">Could not load the voices; the default voice is used.</p>}
      </div>
      <div className="space-y-1.5">
        <div className="flex items-baseline justify-between">
          <label htmlFor={speedId} className="block text-sm font-medium text-zinc-800 dark:text-zinc-200">
            Speed
          </label>
          <output htmlFor={speedId} className="text-sm text-zinc-600 tabular-nums dark:text-zinc-400">
            {value.speed.toFixed(2)}×
          </output>
        </div>
        <input
          id={speedId}
          type="range"
          min={0.5}
          max={2}
          step={0.05}
          value={value.speed}
          disabled={disabled}
          aria-valuetext={`${value.speed.toFixed(2)} times normal speed`}
          onChange={(e) => onChange({ ...value, speed: Number(e.target.value) })}
          className="h-10 w-full accent-brand-600"
        />
      </div>
    </div>
  );
}
