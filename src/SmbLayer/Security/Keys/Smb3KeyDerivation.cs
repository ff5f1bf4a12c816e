using System.Security.Cryptography;
using SmbLayer.Protocol;

namespace SmbLayer.Security;

/// <summary>The keys of one SMB2/3 session (MS-SMB2 §3.2.5.3.1). <see cref="ToString"/> never shows key bytes.</summary>
internal sealed class Smb3SessionKeys : IDisposable
{
    public Smb3SessionKeys(byte[] signingKey, byte[] encryptionKey, byte[] decryptionKey, byte[] applicationKey)
    {
        SigningKey = signingKey;
        EncryptionKey = encryptionKey;
        DecryptionKey = decryptionKey;
        ApplicationKey = applicationKey;
    }

    /// <summary>Session.SigningKey (16 bytes).</summary>
    public byte[] SigningKey { get; }

    /// <summary>Client→server cipher key (16 or 32 bytes); empty below SMB 3.0.</summary>
    public byte[] EncryptionKey { get; }

    /// <summary>Server→client cipher key (16 or 32 bytes); empty below SMB 3.0.</summary>
    public byte[] DecryptionKey { get; }

    /// <summary>Session.ApplicationKey (16 bytes).</summary>
    public byte[] ApplicationKey { get; }

    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(SigningKey);
        CryptographicOperations.ZeroMemory(EncryptionKey);
        CryptographicOperations.ZeroMemory(DecryptionKey);
        CryptographicOperations.ZeroMemory(ApplicationKey);
    }

    public override string ToString() =>
        $"Smb3SessionKeys(signing {SigningKey.Length} B, encryption {EncryptionKey.Length} B, decryption {DecryptionKey.Length} B)";
}

/// <summary>
/// SMB 3.x key derivation (MS-SMB2 §3.1.4.2 and §3.2.5.3.1): SP800-108 counter-mode HMAC-SHA256
/// with the dialect's labels and contexts. Labels and the 3.0 contexts include their terminating NUL;
/// note the trailing space in "ServerIn ".
/// </summary>
internal static class Smb3KeyDerivation
{
    public const int SessionKeySize = 16;
    public const int PreauthHashSize = PreauthIntegrityHash.HashSize;

    // Dialects 3.0 / 3.0.2.
    internal static ReadOnlySpan<byte> Smb30SigningLabel => "SMB2AESCMAC\0"u8;
    internal static ReadOnlySpan<byte> Smb30SigningContext => "SmbSign\0"u8;
    internal static ReadOnlySpan<byte> Smb30CipherLabel => "SMB2AESCCM\0"u8;
    internal static ReadOnlySpan<byte> Smb30ClientToServerContext => "ServerIn \0"u8;
    internal static ReadOnlySpan<byte> Smb30ServerToClientContext => "ServerOut\0"u8;
    internal static ReadOnlySpan<byte> Smb30ApplicationLabel => "SMB2APP\0"u8;
    internal static ReadOnlySpan<byte> Smb30ApplicationContext => "SmbRpc\0"u8;

    // Dialect 3.1.1: context is Session.PreauthIntegrityHashValue.
    internal static ReadOnlySpan<byte> Smb311SigningLabel => "SMBSigningKey\0"u8;
    internal static ReadOnlySpan<byte> Smb311ClientToServerLabel => "SMBC2SCipherKey\0"u8;
    internal static ReadOnlySpan<byte> Smb311ServerToClientLabel => "SMBS2CCipherKey\0"u8;
    internal static ReadOnlySpan<byte> Smb311ApplicationLabel => "SMBAppKey\0"u8;

    /// <summary>
    /// Derives the session's keys as a client.
    /// </summary>
    /// <param name="sessionKey">The GSS session key; its first 16 bytes (zero-padded when shorter) are Session.SessionKey.</param>
    /// <param name="dialect">Negotiated dialect. For 2.0.2/2.1 the signing and application keys are the session key and there are no cipher keys.</param>
    /// <param name="preauthIntegrityHash">Session.PreauthIntegrityHashValue (64 bytes) for 3.1.1; ignored otherwise.</param>
    /// <param name="cipherKeyLength">16 for AES-128 ciphers, 32 for AES-256 (then L = 256 for the cipher keys).</param>
    /// <param name="fullSessionKey">
    /// Session.FullSessionKey (the whole GSS key) used for the cipher keys when <paramref name="cipherKeyLength"/> is 32
    /// (MS-SMB2 §3.2.5.3.1); when empty, <paramref name="sessionKey"/> is used as given.
    /// </param>
    public static Smb3SessionKeys Derive(
        ReadOnlySpan<byte> sessionKey,
        SmbDialect dialect,
        ReadOnlySpan<byte> preauthIntegrityHash,
        int cipherKeyLength = 16,
        ReadOnlySpan<byte> fullSessionKey = default)
    {
        if (sessionKey.IsEmpty)
        {
            throw new ArgumentException("Session key is empty; an anonymous session has no keys.", nameof(sessionKey));
        }
        if (cipherKeyLength is not (16 or 32))
        {
            throw new ArgumentOutOfRangeException(nameof(cipherKeyLength), cipherKeyLength, "Cipher key length must be 16 or 32 bytes.");
        }
        Span<byte> key16 = stackalloc byte[SessionKeySize];
        key16.Clear();
        sessionKey[..Math.Min(SessionKeySize, sessionKey.Length)].CopyTo(key16);
        try
        {
            if (!dialect.IsSmb3())
            {
                return new Smb3SessionKeys(key16.ToArray(), [], [], key16.ToArray());
            }

            var cipherKdk = cipherKeyLength == 32 ? (fullSessionKey.IsEmpty ? sessionKey : fullSessionKey) : key16;
            var signing = new byte[SessionKeySize];
            var application = new byte[SessionKeySize];
            var encryption = new byte[cipherKeyLength];
            var decryption = new byte[cipherKeyLength];
            if (dialect >= SmbDialect.Smb311)
            {
                if (preauthIntegrityHash.Length != PreauthHashSize)
                {
                    throw new ArgumentException(
                        $"Preauth integrity hash is {preauthIntegrityHash.Length} bytes; 3.1.1 needs {PreauthHashSize}.", nameof(preauthIntegrityHash));
                }
                Sp800108Kdf.DeriveKey(key16, Smb311SigningLabel, preauthIntegrityHash, signing);
                Sp800108Kdf.DeriveKey(key16, Smb311ApplicationLabel, preauthIntegrityHash, application);
                Sp800108Kdf.DeriveKey(cipherKdk, Smb311ClientToServerLabel, preauthIntegrityHash, encryption);
                Sp800108Kdf.DeriveKey(cipherKdk, Smb311ServerToClientLabel, preauthIntegrityHash, decryption);
            }
            else
            {
                Sp800108Kdf.DeriveKey(key16, Smb30SigningLabel, Smb30SigningContext, signing);
                Sp800108Kdf.DeriveKey(key16, Smb30ApplicationLabel, Smb30ApplicationContext, application);
                Sp800108Kdf.DeriveKey(cipherKdk, Smb30CipherLabel, Smb30ClientToServerContext, encryption);
                Sp800108Kdf.DeriveKey(cipherKdk, Smb30CipherLabel, Smb30ServerToClientContext, decryption);
            }
            return new Smb3SessionKeys(signing, encryption, decryption, application);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key16);
        }
    }
}
