using System.Security.Cryptography;

namespace SmbLayer.Security;

/// <summary>
/// SMB 3.1.1 pre-authentication integrity hash (MS-SMB2 §3.2.5.2, §3.2.5.3.1): a SHA-512 chain
/// H = SHA-512(H || message), starting from 64 zero bytes. Not thread-safe; one owner updates it.
/// </summary>
internal sealed class PreauthIntegrityHash : IDisposable
{
    public const int HashSize = 64;

    private readonly byte[] _value = new byte[HashSize];
    private readonly IncrementalHash _sha512 = IncrementalHash.CreateHash(HashAlgorithmName.SHA512);

    /// <summary>Starts from the all-zero value (Connection.PreauthIntegrityHashValue before NEGOTIATE).</summary>
    public PreauthIntegrityHash()
    {
    }

    /// <summary>Starts from a given value, e.g. the connection's hash for a new session.</summary>
    public PreauthIntegrityHash(ReadOnlySpan<byte> initialValue)
    {
        if (initialValue.Length != HashSize)
        {
            throw new ArgumentException($"Preauth hash value is {initialValue.Length} bytes; need {HashSize}.", nameof(initialValue));
        }
        initialValue.CopyTo(_value);
    }

    /// <summary>The current 64-byte value.</summary>
    public ReadOnlySpan<byte> Value => _value;

    /// <summary>H = SHA-512(H || <paramref name="message"/>); the message is the whole SMB2 message as sent or received.</summary>
    public void Update(ReadOnlySpan<byte> message)
    {
        _sha512.AppendData(_value);
        _sha512.AppendData(message);
        if (!_sha512.TryGetHashAndReset(_value, out var written) || written != HashSize)
        {
            throw new CryptographicException("SHA-512 produced an unexpected length.");
        }
    }

    /// <summary>An independent copy with the same value.</summary>
    public PreauthIntegrityHash Clone() => new(_value);

    public void Dispose() => _sha512.Dispose();

    public override string ToString() => $"PreauthIntegrityHash({Convert.ToHexString(_value.AsSpan(0, 8))}…)";
}
