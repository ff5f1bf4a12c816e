using System.Buffers.Binary;
using System.Security.Cryptography;
using SmbLayer.Protocol;

namespace SmbLayer.Security;

/// <summary>
/// Signs and verifies single SMB2 messages (MS-SMB2 §3.1.4.1, §3.1.5.1). A message is one header plus
/// its body, including any compound padding. Instances are safe for concurrent use (one writer
/// signing while one reader verifies), and hold their key material until disposed.
/// </summary>
internal abstract class Smb2Signer : IDisposable
{
    protected const int SignatureOffset = Smb2Header.SignatureOffset;
    protected const int SignatureSize = Smb2Header.SignatureSize;
    private const int OffFlags = 16;
    private const int OffCommand = 12;
    private const int OffMessageId = 24;

    protected Smb2Signer(SigningAlgorithm algorithm) => Algorithm = algorithm;

    public SigningAlgorithm Algorithm { get; }

    /// <summary>Makes a signer for <paramref name="algorithm"/> with <paramref name="key"/> (the session or channel signing key).</summary>
    public static Smb2Signer Create(SigningAlgorithm algorithm, ReadOnlySpan<byte> key)
    {
        if (key.IsEmpty)
        {
            throw new ArgumentException("Signing key is empty.", nameof(key));
        }
        return algorithm switch
        {
            SigningAlgorithm.HmacSha256 => new HmacSha256Signer(key),
            SigningAlgorithm.AesCmac => new AesCmacSigner(key),
            SigningAlgorithm.AesGmac => new AesGmacSigner(key),
            _ => throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "Unknown SMB2 signing algorithm."),
        };
    }

    /// <summary>Sets the Signed flag, zeroes the signature field, and writes the signature at offset 48.</summary>
    public void Sign(Span<byte> message)
    {
        if (message.Length < Smb2Header.Size)
        {
            throw new ArgumentException($"Message is {message.Length} bytes; an SMB2 message is at least {Smb2Header.Size}.", nameof(message));
        }
        Smb2Header.SetSignedFlag(message);
        var signature = message.Slice(SignatureOffset, SignatureSize);
        signature.Clear();
        Span<byte> computed = stackalloc byte[SignatureSize];
        ComputeSignature(message, computed);
        computed.CopyTo(signature);
    }

    /// <summary>
    /// True when the signature at offset 48 matches. The buffer is left as it was (an implementation
    /// may zero the field while computing and restores it before returning).
    /// </summary>
    public bool Verify(Span<byte> message)
    {
        if (message.Length < Smb2Header.Size)
        {
            return false;
        }
        Span<byte> expected = stackalloc byte[SignatureSize];
        ComputeVerification(message, expected);
        return CryptographicOperations.FixedTimeEquals(expected, message.Slice(SignatureOffset, SignatureSize));
    }

    public abstract void Dispose();

    public override string ToString() => $"Smb2Signer({Algorithm})";

    /// <summary>Computes the signature of a message whose signature field is already zero.</summary>
    protected abstract void ComputeSignature(ReadOnlySpan<byte> message, Span<byte> signature);

    /// <summary>Computes the signature as if the signature field were zero; must leave <paramref name="message"/> unchanged on return.</summary>
    protected abstract void ComputeVerification(Span<byte> message, Span<byte> signature);

    protected static ulong ReadMessageId(ReadOnlySpan<byte> message) =>
        BinaryPrimitives.ReadUInt64LittleEndian(message[OffMessageId..]);

    protected static Smb2HeaderFlags ReadFlags(ReadOnlySpan<byte> message) =>
        (Smb2HeaderFlags)BinaryPrimitives.ReadUInt32LittleEndian(message[OffFlags..]);

    protected static Smb2Command ReadCommand(ReadOnlySpan<byte> message) =>
        (Smb2Command)BinaryPrimitives.ReadUInt16LittleEndian(message[OffCommand..]);

    protected static ReadOnlySpan<byte> ZeroSignature => [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
}

/// <summary>HMAC-SHA256 signing for 2.0.2 / 2.1: the first 16 bytes of HMAC-SHA256(SessionKey, message).</summary>
internal sealed class HmacSha256Signer : Smb2Signer
{
    private const int HmacSize = 32;
    private readonly IncrementalHash _hmac;
    private readonly Lock _lock = new();

    public HmacSha256Signer(ReadOnlySpan<byte> key) : base(SigningAlgorithm.HmacSha256)
    {
        _hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
    }

    protected override void ComputeSignature(ReadOnlySpan<byte> message, Span<byte> signature) =>
        Compute(message[..SignatureOffset], ReadOnlySpan<byte>.Empty, message[SignatureOffset..], signature);

    protected override void ComputeVerification(Span<byte> message, Span<byte> signature) =>
        Compute(message[..SignatureOffset], ZeroSignature, message[(SignatureOffset + SignatureSize)..], signature);

    public override void Dispose()
    {
        lock (_lock)
        {
            _hmac.Dispose();
        }
    }

    private void Compute(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, ReadOnlySpan<byte> c, Span<byte> signature)
    {
        Span<byte> full = stackalloc byte[HmacSize];
        lock (_lock)
        {
            _hmac.AppendData(a);
            _hmac.AppendData(b);
            _hmac.AppendData(c);
            _hmac.GetHashAndReset(full);
        }
        full[..SignatureSize].CopyTo(signature);
        CryptographicOperations.ZeroMemory(full);
    }
}

/// <summary>AES-128-CMAC signing for the SMB 3.x family.</summary>
internal sealed class AesCmacSigner : Smb2Signer
{
    private readonly AesCmac _cmac;

    public AesCmacSigner(ReadOnlySpan<byte> key) : base(SigningAlgorithm.AesCmac)
    {
        _cmac = new AesCmac(key);
    }

    protected override void ComputeSignature(ReadOnlySpan<byte> message, Span<byte> signature) =>
        _cmac.Compute(message, signature);

    protected override void ComputeVerification(Span<byte> message, Span<byte> signature) =>
        _cmac.Compute(message[..SignatureOffset], ZeroSignature, message[(SignatureOffset + SignatureSize)..], signature);

    public override void Dispose() => _cmac.Dispose();
}

/// <summary>
/// AES-128-GMAC signing for 3.1.1 (MS-SMB2 §3.1.4.1): AES-GCM with an empty plaintext, the message as
/// additional data and a 12-byte nonce = MessageId (8 bytes LE) || 4 bytes whose bit 0 says the sender is
/// the server and bit 1 says the message is a CANCEL request.
/// </summary>
internal sealed class AesGmacSigner : Smb2Signer
{
    private const int NonceSize = 12;
    private const int OffNonceFlags = 8;
    private const uint NonceServerBit = 0x1;
    private const uint NonceCancelBit = 0x2;
    private readonly AesGcm _gcm;
    private readonly Lock _lock = new();

    public AesGmacSigner(ReadOnlySpan<byte> key) : base(SigningAlgorithm.AesGmac)
    {
        _gcm = new AesGcm(key, SignatureSize);
    }

    /// <summary>Builds the GMAC nonce from a serialized header.</summary>
    internal static void BuildNonce(ReadOnlySpan<byte> message, Span<byte> nonce)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(nonce, ReadMessageId(message));
        var flags = ReadFlags(message);
        uint bits = 0;
        var fromServer = (flags & Smb2HeaderFlags.ServerToRedir) != 0;
        if (fromServer)
        {
            bits |= NonceServerBit;
        }
        if (!fromServer && ReadCommand(message) == Smb2Command.Cancel)
        {
            bits |= NonceCancelBit;
        }
        BinaryPrimitives.WriteUInt32LittleEndian(nonce[OffNonceFlags..], bits);
    }

    protected override void ComputeSignature(ReadOnlySpan<byte> message, Span<byte> signature)
    {
        Span<byte> nonce = stackalloc byte[NonceSize];
        BuildNonce(message, nonce);
        lock (_lock)
        {
            _gcm.Encrypt(nonce, ReadOnlySpan<byte>.Empty, Span<byte>.Empty, signature, message);
        }
    }

    protected override void ComputeVerification(Span<byte> message, Span<byte> signature)
    {
        // GCM takes the additional data in one piece, so zero the field in place and put it back.
        var field = message.Slice(SignatureOffset, SignatureSize);
        Span<byte> saved = stackalloc byte[SignatureSize];
        field.CopyTo(saved);
        try
        {
            field.Clear();
            ComputeSignature(message, signature);
        }
        finally
        {
            saved.CopyTo(field);
        }
    }

    public override void Dispose()
    {
        lock (_lock)
        {
            _gcm.Dispose();
        }
    }
}
