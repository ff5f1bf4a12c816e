using System.Security.Cryptography;

namespace SmbLayer.Security;

/// <summary>
/// RC4 stream cipher. .NET does not ship it; NTLM uses it for the key exchange and to seal
/// message-signature checksums. The key stream continues across calls (an NTLM "handle").
/// Not thread-safe.
/// </summary>
internal sealed class Rc4 : IDisposable
{
    private const int StateSize = 256;
    private readonly byte[] _s = new byte[StateSize];
    private int _i;
    private int _j;

    public Rc4(ReadOnlySpan<byte> key)
    {
        if (key.IsEmpty || key.Length > StateSize)
        {
            throw new ArgumentException($"RC4 key length {key.Length} is invalid; need 1..{StateSize} bytes.", nameof(key));
        }
        for (var i = 0; i < StateSize; i++)
        {
            _s[i] = (byte)i;
        }
        var j = 0;
        for (var i = 0; i < StateSize; i++)
        {
            j = (j + _s[i] + key[i % key.Length]) & 0xFF;
            (_s[i], _s[j]) = (_s[j], _s[i]);
        }
    }

    /// <summary>One-shot RC4 of <paramref name="input"/> under <paramref name="key"/> (RC4K in MS-NLMP).</summary>
    public static byte[] Transform(ReadOnlySpan<byte> key, ReadOnlySpan<byte> input)
    {
        using var rc4 = new Rc4(key);
        var output = new byte[input.Length];
        rc4.Transform(input, output);
        return output;
    }

    /// <summary>XORs the next key-stream bytes into <paramref name="input"/>, writing to <paramref name="output"/> (may be the same span).</summary>
    public void Transform(ReadOnlySpan<byte> input, Span<byte> output)
    {
        if (output.Length < input.Length)
        {
            throw new ArgumentException($"RC4 output is {output.Length} bytes; input is {input.Length}.", nameof(output));
        }
        for (var n = 0; n < input.Length; n++)
        {
            _i = (_i + 1) & 0xFF;
            _j = (_j + _s[_i]) & 0xFF;
            (_s[_i], _s[_j]) = (_s[_j], _s[_i]);
            output[n] = (byte)(input[n] ^ _s[(_s[_i] + _s[_j]) & 0xFF]);
        }
    }

    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(_s);
        _i = 0;
        _j = 0;
    }
}
