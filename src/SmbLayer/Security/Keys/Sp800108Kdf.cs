using System.Buffers.Binary;
using System.Security.Cryptography;

namespace SmbLayer.Security;

/// <summary>
/// NIST SP800-108 key derivation in counter mode with HMAC-SHA256 as the PRF, r = 32 bits,
/// as MS-SMB2 §3.1.4.2 uses it. Each block is
/// K(i) = HMAC-SHA256(Ki, [i]₃₂ || Label || 0x00 || Context || [L]₃₂), counters and L big-endian.
/// </summary>
internal static class Sp800108Kdf
{
    private const int CounterSize = 4;
    private const int SeparatorSize = 1;
    private const int LengthFieldSize = 4;
    private const int PrfOutputSize = 32; // HMAC-SHA256
    private const int MaxStackInput = 512;

    /// <summary>
    /// Derives <paramref name="output"/>.Length bytes; L (in bits) is 8 × that length.
    /// <paramref name="label"/> and <paramref name="context"/> are used as given (SMB's include their NUL).
    /// </summary>
    public static void DeriveKey(ReadOnlySpan<byte> key, ReadOnlySpan<byte> label, ReadOnlySpan<byte> context, Span<byte> output)
    {
        if (output.IsEmpty)
        {
            throw new ArgumentException("KDF output length must be positive.", nameof(output));
        }
        var inputLength = CounterSize + label.Length + SeparatorSize + context.Length + LengthFieldSize;
        var input = inputLength <= MaxStackInput ? stackalloc byte[inputLength] : new byte[inputLength];
        var labelAt = CounterSize;
        var separatorAt = labelAt + label.Length;
        var contextAt = separatorAt + SeparatorSize;
        var lengthAt = contextAt + context.Length;
        label.CopyTo(input[labelAt..]);
        input[separatorAt] = 0;
        context.CopyTo(input[contextAt..]);
        BinaryPrimitives.WriteUInt32BigEndian(input[lengthAt..], checked((uint)output.Length * 8));

        Span<byte> block = stackalloc byte[PrfOutputSize];
        uint counter = 1;
        var written = 0;
        while (written < output.Length)
        {
            BinaryPrimitives.WriteUInt32BigEndian(input, counter);
            HMACSHA256.HashData(key, input, block);
            var take = Math.Min(PrfOutputSize, output.Length - written);
            block[..take].CopyTo(output[written..]);
            written += take;
            counter++;
        }
        CryptographicOperations.ZeroMemory(block);
    }
}
