using System.Buffers.Binary;
using System.Security.Cryptography;
using SmbLayer.Protocol;

namespace SmbLayer.Security;

/// <summary>
/// Encrypts and decrypts whole SMB2 messages (or compound chains) for one session
/// (MS-SMB2 §3.1.4.3 and §3.2.5.1.1.1): AES-128/256 in CCM or GCM mode with a 16-byte tag, the
/// tag in the TRANSFORM header's Signature field and the header from Nonce on as associated data.
/// One AEAD instance per direction, so the writer loop (encrypt) and the reader loop (decrypt)
/// never share one. <see cref="ToString"/> never shows key bytes.
/// </summary>
internal sealed class Smb3Cipher : IDisposable
{
    public const int TagSize = 16;
    public const int CcmNonceSize = 11;
    public const int GcmNonceSize = 12;

    /// <summary>Bytes of the nonce taken by the message counter; the rest is a random per-session salt.</summary>
    private const int CounterSize = 8;

    private readonly IDisposable _encryptor;
    private readonly IDisposable _decryptor;
    private readonly byte[] _nonceSalt;
    private long _counter;

    public Smb3Cipher(CipherId cipher, ReadOnlySpan<byte> encryptionKey, ReadOnlySpan<byte> decryptionKey)
    {
        var keySize = KeySize(cipher);
        if (encryptionKey.Length != keySize || decryptionKey.Length != keySize)
        {
            throw new ArgumentException($"{cipher} needs {keySize}-byte keys.");
        }
        Cipher = cipher;
        IsGcm = cipher is CipherId.Aes128Gcm or CipherId.Aes256Gcm;
        NonceSize = IsGcm ? GcmNonceSize : CcmNonceSize;
        if (IsGcm)
        {
            _encryptor = new AesGcm(encryptionKey, TagSize);
            _decryptor = new AesGcm(decryptionKey, TagSize);
        }
        else
        {
            _encryptor = new AesCcm(encryptionKey);
            _decryptor = new AesCcm(decryptionKey);
        }
        // Nonces must never repeat under one key (a repeat breaks both CCM and GCM). The key is this
        // session's alone, so a 64-bit message counter makes every nonce unique for the session's
        // life; the remaining 3 (CCM) or 4 (GCM) bytes are random once per session, which keeps
        // nonces unpredictable across sessions without weakening the uniqueness argument.
        _nonceSalt = RandomNumberGenerator.GetBytes(NonceSize - CounterSize);
    }

    public CipherId Cipher { get; }
    public bool IsGcm { get; }
    public int NonceSize { get; }

    /// <summary>Bytes the TRANSFORM header adds to a message.</summary>
    public static int Overhead => Smb2TransformHeader.Size;

    /// <summary>True when this runtime can do <paramref name="cipher"/> (AES-CCM/GCM come from the platform's crypto library).</summary>
    public static bool IsSupported(CipherId cipher) => cipher switch
    {
        CipherId.Aes128Ccm or CipherId.Aes256Ccm => AesCcm.IsSupported,
        CipherId.Aes128Gcm or CipherId.Aes256Gcm => AesGcm.IsSupported,
        _ => false,
    };

    /// <summary>Key length in bytes: 16 for the AES-128 ciphers, 32 for AES-256.</summary>
    public static int KeySize(CipherId cipher) => cipher switch
    {
        CipherId.Aes128Ccm or CipherId.Aes128Gcm => 16,
        CipherId.Aes256Ccm or CipherId.Aes256Gcm => 32,
        _ => throw new ArgumentOutOfRangeException(nameof(cipher), cipher, "Not an SMB3 cipher."),
    };

    /// <summary>
    /// Writes the TRANSFORM header and the ciphertext of <paramref name="plaintext"/> (one message or a
    /// whole compound chain) to <paramref name="destination"/>, which must be exactly
    /// <see cref="Overhead"/> + plaintext length bytes.
    /// </summary>
    public void Encrypt(ulong sessionId, ReadOnlySpan<byte> plaintext, Span<byte> destination)
    {
        if (destination.Length != Overhead + plaintext.Length)
        {
            throw new ArgumentException($"Destination is {destination.Length} bytes, need {Overhead + plaintext.Length}.", nameof(destination));
        }
        new Smb2TransformHeader
        {
            OriginalMessageSize = (uint)plaintext.Length,
            Flags = Smb2TransformHeader.EncryptedFlag,
            SessionId = sessionId,
        }.WriteTo(destination);
        var counter = Interlocked.Increment(ref _counter);
        if (counter <= 0)
        {
            throw new SmbSecurityException("The session's nonce counter is exhausted; the session must be set up again.");
        }
        var nonce = destination.Slice(Smb2TransformHeader.NonceOffset, NonceSize);
        BinaryPrimitives.WriteInt64LittleEndian(nonce, counter);
        _nonceSalt.CopyTo(nonce[CounterSize..]);
        var aad = destination.Slice(Smb2TransformHeader.AadOffset, Smb2TransformHeader.AadSize);
        var tag = destination.Slice(Smb2TransformHeader.SignatureOffset, TagSize);
        var ciphertext = destination[Overhead..];
        if (_encryptor is AesGcm gcm)
        {
            gcm.Encrypt(nonce, plaintext, ciphertext, tag, aad);
        }
        else
        {
            ((AesCcm)_encryptor).Encrypt(nonce, plaintext, ciphertext, tag, aad);
        }
    }

    /// <summary>
    /// Authenticates and decrypts one TRANSFORM message into <paramref name="plaintext"/>, which must be
    /// OriginalMessageSize bytes. Throws <see cref="SmbProtocolException"/> when the header is malformed,
    /// the sizes disagree, or the tag does not verify (tampered, wrong key, wrong session).
    /// </summary>
    public void Decrypt(ReadOnlySpan<byte> message, Span<byte> plaintext)
    {
        var header = Smb2TransformHeader.ReadFrom(message);
        var ciphertext = message[Overhead..];
        if (header.OriginalMessageSize != (uint)ciphertext.Length || plaintext.Length != ciphertext.Length)
        {
            throw new SmbProtocolException(
                $"TRANSFORM OriginalMessageSize {header.OriginalMessageSize} does not match the {ciphertext.Length} encrypted bytes that follow.");
        }
        var nonceField = message.Slice(Smb2TransformHeader.NonceOffset, Smb2TransformHeader.NonceFieldSize);
        var nonce = nonceField[..NonceSize];
        var aad = message.Slice(Smb2TransformHeader.AadOffset, Smb2TransformHeader.AadSize);
        var tag = message.Slice(Smb2TransformHeader.SignatureOffset, TagSize);
        try
        {
            if (_decryptor is AesGcm gcm)
            {
                gcm.Decrypt(nonce, ciphertext, tag, plaintext, aad);
            }
            else
            {
                ((AesCcm)_decryptor).Decrypt(nonce, ciphertext, tag, plaintext, aad);
            }
        }
        catch (AuthenticationTagMismatchException ex)
        {
            throw new SmbProtocolException($"Encrypted message for session 0x{header.SessionId:X} failed authentication ({Cipher}).", ex);
        }
        catch (CryptographicException ex)
        {
            throw new SmbProtocolException($"Encrypted message for session 0x{header.SessionId:X} could not be decrypted ({Cipher}): {ex.Message}", ex);
        }
    }

    public void Dispose()
    {
        _encryptor.Dispose();
        _decryptor.Dispose();
    }

    public override string ToString() => $"Smb3Cipher({Cipher})";
}
