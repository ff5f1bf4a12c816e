namespace SmbLayer.Transport;

/// <summary>
/// A server-initiated message (an oplock or lease break notification) as the reader got it: a copy of the message, and
/// the session whose keys decrypted it (null when it came in plaintext), so that the session layer can tell whether it
/// came as its open's session requires (MS-SMB2 §3.3.4.1.4).
/// </summary>
internal readonly record struct ServerMessage(ReadOnlyMemory<byte> Message, ulong? EncryptedFor);
