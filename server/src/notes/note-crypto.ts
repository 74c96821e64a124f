/**
 * Notes (therapist notes and patients' correction notes) are sealed with their case's data key, like messages, and
 * bound to the note's id by the AAD `('note.text', noteId)`: a note's ciphertext copied onto another note fails to
 * open. Load the case's keys first (`keys.ensure(caseId)`).
 */
import { aad } from '../crypto/aead.js';
import type { DataKeyRing } from '../crypto/data-keys.js';

const noteAad = (noteId: string) => aad('note.text', noteId);

export function sealNote(
  keys: DataKeyRing,
  caseId: string,
  noteId: string,
  text: string,
): { keyId: string; ciphertext: Buffer } {
  return keys.sealField(caseId, text, noteAad(noteId));
}

export function openNote(
  keys: DataKeyRing,
  note: { readonly id: string; readonly key_id: string; readonly text_ct: Uint8Array },
): string {
  return keys.openField(note.key_id, note.text_ct, noteAad(note.id));
}
