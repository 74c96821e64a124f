/**
 * Notes (therapist notes and patients' correction notes) are sealed with their case's data key, like messages, and
 * bound to the note's id by the AAD `('note.text', noteId)`: a note's ciphertext copied onto another note fails to
 * open. Load the case's keys first (`keys.ensure(caseId)`).
 */
import type { DataKeyRing } from '../crypto/data-keys.js';
import { NOTE_TEXT_FIELD as NOTE_TEXT } from './notes.js';

export function sealNote(
  keys: DataKeyRing,
  caseId: string,
  noteId: string,
  text: string,
): { keyId: string; ciphertext: Buffer } {
  return keys.sealField(caseId, NOTE_TEXT, noteId, text);
}

export function openNote(
  keys: DataKeyRing,
  note: { readonly id: string; readonly key_id: string; readonly text_ct: Uint8Array },
): string {
  return keys.openField(note.key_id, NOTE_TEXT, note.id, note.text_ct);
}
